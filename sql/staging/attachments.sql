-- One row per attachment of a message: a part with a file name, an attachment disposition or non-text
-- content, described by its decoded content.
--
-- Incremental: date
--
-- Columns:
--   tenant_id: The message's tenant.
--   direction: The message's direction: `inbound` or `outbound`.
--   object_key: The message's object key in the archive bucket (joins messages with direction).
--   ses_message_id: The message's SES message id.
--   rfc_message_id: The message's Message-ID, bare; null when absent.
--   filename: The part's file name; null when it has none.
--   content_type: The part's MIME type, lower-case (`application/pdf`, …).
--   disposition: `attachment`, `inline` (also a part with a Content-ID and no disposition) or null.
--   content_id: The part's Content-ID without angle brackets (what inline HTML images name); null when absent.
--   size_bytes: The decoded content's size in bytes.
--   sha256: The hex SHA-256 of the decoded content.
--   is_forwarded_message: Whether the part is a whole mail message (message/rfc822 or message/global):
--     forwarded mail kept whole.
--   date: Lake partition: the UTC day the message's object arrived in the bucket.
--   tenant: Lake partition: the tenant (equals tenant_id).
select tenant_id, direction, object_key, ses_message_id, rfc_message_id, filename, content_type, disposition,
       content_id, size_bytes, sha256, is_forwarded_message, date, tenant
from source.attachments
