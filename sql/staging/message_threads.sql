-- One row per threaded message: the thread id it was given when it was threaded (messages.thread_id is
-- the current one, read through thread_renames) and the headers an answer to it should carry.
--
-- Incremental: date
--
-- Columns:
--   tenant_id: The message's tenant.
--   direction: The message's direction: `inbound` or `outbound`.
--   object_key: The message's object key in the archive bucket (joins messages with direction).
--   ses_message_id: The message's SES message id.
--   rfc_message_id: The message's Message-ID, bare; null when absent.
--   thread_id: The thread the message was given; it never changes (a later join is in thread_renames).
--   reply_in_reply_to: The In-Reply-To an answer to this message should carry.
--   reply_references: The References an answer to this message should carry.
--   reply_subject: The subject an answer to this message should carry.
--   threaded_at: When the message was threaded (UTC).
--   date: Lake partition: the message's partition day in messages (its arrival day).
--   tenant: Lake partition: the tenant (equals tenant_id).
select tenant_id, direction, object_key, ses_message_id, rfc_message_id, thread_id, reply_in_reply_to,
       reply_references, reply_subject, threaded_at, date, tenant
from source.message_threads
