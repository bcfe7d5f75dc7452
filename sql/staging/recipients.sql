-- One row per message × address × role: every address a message names (From, To, Cc, Bcc, Reply-To)
-- and, for inbound mail, every envelope recipient of SES's Received header.
--
-- Incremental: date
--
-- Columns:
--   tenant_id: The message's tenant.
--   direction: The message's direction: `inbound` or `outbound`.
--   object_key: The message's object key in the archive bucket (joins messages with direction).
--   ses_message_id: The message's SES message id.
--   rfc_message_id: The message's Message-ID, bare; null when absent.
--   role: Where the address appears: `from`, `to`, `cc`, `bcc`, `reply_to` or `envelope`.
--   address: The address (domain lower-cased).
--   name: The display name; '' when absent (always for `envelope`).
--   domain: The address's domain.
--   date: Lake partition: the UTC day the message's object arrived in the bucket.
--   tenant: Lake partition: the tenant (equals tenant_id).
select tenant_id, direction, object_key, ses_message_id, rfc_message_id, role, address, name, domain, date, tenant
from source.recipients
