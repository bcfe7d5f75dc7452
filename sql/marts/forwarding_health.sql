-- Per tenant: is its forwarding rule still sending us mail? "Now" is the newest inbound message
-- in the lake, so the answer depends on the data, not on when the build ran. A tenant is
-- silent when its quiet time exceeds both a day and twice its usual (90th percentile) gap
-- between consecutive inbound messages, given at least 10 messages to learn that gap from.
--
-- Columns:
--   tenant_id: The tenant; every tenant of the registry has a row.
--   last_inbound_at: Arrival time of the tenant's newest inbound message; null when it has none.
--   inbound_last_7_days: Inbound messages that arrived in the 7 days before "now".
--   usual_gap_seconds: The 90th percentile of the gaps between consecutive inbound messages, in seconds;
--     null with fewer than two messages.
--   silent_seconds: Seconds from last_inbound_at to "now"; null when the tenant has no inbound mail.
--   silent: Whether the forwarding looks broken: quiet longer than both a day and twice usual_gap_seconds
--     (given at least 10 inbound messages), or no inbound mail at all.
with inbound as (
    select tenant_id, received_at,
           received_at - lag(received_at) over (partition by tenant_id order by received_at) as gap
    from messages
    where direction = 'inbound'
),
now_ as (select max(received_at) as now from inbound),
per_tenant as (
    select tenant_id,
           max(received_at) as last_inbound_at,
           count(*) as inbound_messages,
           count(*) filter (where received_at > (select now from now_) - interval 7 day) as inbound_last_7_days,
           quantile_cont(epoch(gap), 0.9) as usual_gap_seconds
    from inbound
    group by tenant_id
)
select t.id as tenant_id, p.last_inbound_at,
       coalesce(p.inbound_last_7_days, 0) as inbound_last_7_days,
       p.usual_gap_seconds,
       epoch((select now from now_) - p.last_inbound_at) as silent_seconds,
       coalesce(
           p.inbound_messages >= 10
           and epoch((select now from now_) - p.last_inbound_at) > greatest(86400, 2 * p.usual_gap_seconds),
           false
       ) or p.last_inbound_at is null as silent
from tenants t
left join per_tenant p on p.tenant_id = t.id
order by t.id
