-- One row per tenant × weekday × hour of the day in the tenant's time zone (tenants.timezone): when mail
-- arrives, when we answer, and when people open what we send.
--
-- Columns:
--   tenant_id: The tenant.
--   weekday: The local ISO weekday: 1 = Monday … 7 = Sunday.
--   hour: The local hour of the day, 0–23.
--   inbound_messages: Inbound messages that arrived in that hour (received_at).
--   outbound_messages: Outbound messages archived in that hour.
--   unique_human_opens: Distinct message × recipient opened by a person in that hour (an Open classified
--     `human`; a message opened in several hours counts in each).
with activity as (
    select m.tenant_id, timezone(t.timezone, m.received_at) as local_at, m.direction as kind, null as delivery
    from messages m
    join tenants t on t.id = m.tenant_id
    where m.received_at is not null
    union all
    select e.tenant_id, timezone(t.timezone, e.event_at), 'human_open',
           e.ses_message_id || '|' || coalesce(e.recipient, '')
    from events e
    join tenants t on t.id = e.tenant_id
    where e.event_type = 'Open' and e.agent_class = 'human'
)
select tenant_id,
       isodow(local_at) as weekday,
       hour(local_at) as hour,
       count(*) filter (where kind = 'inbound') as inbound_messages,
       count(*) filter (where kind = 'outbound') as outbound_messages,
       count(distinct delivery) filter (where kind = 'human_open') as unique_human_opens
from activity
group by all
order by tenant_id, weekday, hour
