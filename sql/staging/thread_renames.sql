-- One row per thread joined into another by later mail: old_thread_id now reads thread_id (follow the
-- renames to the end for the surviving id, as messages.thread_id does).
--
-- Incremental: date
--
-- Columns:
--   tenant_id: The thread's tenant.
--   old_thread_id: The id that was joined into another thread.
--   thread_id: The id it now reads (itself possibly renamed later).
--   renamed_at: When the join was recorded (UTC).
--   date: Lake partition: the UTC day of renamed_at.
--   tenant: Lake partition: the tenant (equals tenant_id).
select tenant_id, old_thread_id, thread_id, renamed_at, date, tenant
from source.thread_renames
