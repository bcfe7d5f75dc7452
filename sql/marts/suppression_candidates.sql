-- Per tenant, addresses that hard-bounced or complained: candidates for the tenant's suppression list.
--
-- Incremental: recipient
--   events: recipient
--
-- Columns:
--   tenant_id: The sending tenant.
--   recipient: The address, lower-case.
--   reason: `complaint` when the address complained at least once, else `hard_bounce`.
--   events: The address's hard bounces and complaints.
--   last_event_at: The latest of them (UTC).
--   last_event_type: `Bounce` or `Complaint`: the type of the latest.
--   last_detail: The latest one's diagnostic code (bounce) or feedback type (complaint).
select tenant_id, recipient,
       case when count(*) filter (where event_type = 'Complaint') > 0 then 'complaint' else 'hard_bounce' end
           as reason,
       count(*) as events,
       max(event_at) as last_event_at,
       arg_max(event_type, event_at) as last_event_type,
       arg_max(coalesce(diagnostic_code, complaint_feedback_type), event_at) as last_detail
from events
where recipient is not null
  and (event_type = 'Complaint' or (event_type = 'Bounce' and bounce_type = 'Permanent'))
group by tenant_id, recipient
order by tenant_id, recipient
