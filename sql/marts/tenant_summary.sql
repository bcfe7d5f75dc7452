-- One row per tenant: what `seslake report` prints. Volumes over all days, delivery over what was sent,
-- the trailing 30-day reputation, the unique human open rate, forwarding health and estimated cost.
--
-- Columns:
--   tenant_id: The tenant (tenants with a row in tenant_daily).
--   inbound: Inbound messages, all days.
--   outbound: Outbound messages, all days.
--   delivered_rate: Deliveries / sends, all days; null when nothing was sent.
--   bounce_rate_30d: The trailing 30-day hard-bounce rate (tenant_reputation.bounce_rate).
--   complaint_rate_30d: The trailing 30-day complaint rate (tenant_reputation.complaint_rate).
--   reputation: The trailing 30-day status (tenant_reputation.status).
--   unique_human_open_rate_of_delivered: Distinct message × recipient opened by a person / deliveries, all
--     days (the open rate mail platforms show, without machine opens); null when nothing was delivered.
--   forwarding_silent: Whether the tenant's forwarding looks broken (forwarding_health.silent).
--   cost_usd: The estimated SES cost over all months (tenant_costs.total_usd).
select d.tenant_id,
       sum(d.inbound_messages) as inbound,
       sum(d.outbound_messages) as outbound,
       sum(d.delivered) / nullif(sum(d.sent), 0) as delivered_rate,
       any_value(r.bounce_rate) as bounce_rate_30d,
       any_value(r.complaint_rate) as complaint_rate_30d,
       any_value(r.status) as reputation,
       (select count(distinct e.ses_message_id || '|' || coalesce(e.recipient, '')) from events e
        where e.tenant_id = d.tenant_id and e.event_type = 'Open' and e.agent_class = 'human')
           / nullif(sum(d.delivered), 0) as unique_human_open_rate_of_delivered,
       any_value(f.silent) as forwarding_silent,
       (select sum(total_usd) from tenant_costs c where c.tenant_id = d.tenant_id) as cost_usd
from tenant_daily d
left join tenant_reputation r using (tenant_id)
left join forwarding_health f using (tenant_id)
group by d.tenant_id
order by d.tenant_id
