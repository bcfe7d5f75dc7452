-- One row per archive object or event line that could not be used, with the stage that gave up and why:
-- every listed mail object ends in exactly one of messages or quarantine.
--
-- Incremental: date
--
-- Columns:
--   tenant_id: The tenant, when known; null for objects no tenant claims.
--   source: What was being read: `inbound` or `outbound` mail, `events` files, or the live `handoff`.
--   source_key: The object's key (for the hand-off, the object the notification named).
--   line_number: The line of an events file; null for whole objects.
--   stage: Where it failed: `fetch`, `parse`, `attribute` (the hand-off also `notification`, `verdict`).
--   reason: A short code: `empty_object`, `not_mail`, `parser_error`, `read_failed`, `unattributed`,
--     `bad_json`, `bad_shape`, `unknown_event_type`, …
--   error: The error text (at most 4,000 characters).
--   size_bytes: The object's size in bytes.
--   first_seen_at: The object's time in the bucket (UTC).
--   date: Lake partition: the UTC day the object arrived in the bucket.
--   tenant: Lake partition: the tenant, `_unattributed` when unknown.
select tenant_id, source, source_key, line_number, stage, reason, error, size_bytes, first_seen_at, date, tenant
from source.quarantine
