-- One row per tenant × UTC day × mailbox provider of the recipient (Gmail, Outlook, Yahoo, iCloud, …, or
-- `other`, from mailbox_providers by the recipient's domain): what was sent there, how it fared and how it
-- was read. Counts are events by event day; rates are per sent recipient (bounces, complaints) or per
-- delivered (opens, clicks), as mail platforms show them.
--
-- Incremental: day
--   events: cast(event_at as date)
--   mailbox_providers: whole
--
-- Columns:
--   tenant_id: The sending tenant.
--   day: The UTC day of the events.
--   provider: The recipient's mailbox provider; `other` for a domain the mapping does not list.
--   sent: Send events.
--   delivered: Delivery events.
--   hard_bounces: Bounce events of type `Permanent`.
--   soft_bounces: The other Bounce events.
--   complaints: Complaint events.
--   unique_opens: Distinct message × recipient opened.
--   unique_human_opens: Distinct message × recipient opened by a person (Open classified `human`).
--   unique_clicks: Distinct message × recipient clicked.
--   unique_human_clicks: Distinct message × recipient clicked by a person.
--   hard_bounce_rate_of_sent: hard_bounces / sent; null when nothing was sent.
--   complaint_rate_of_sent: complaints / sent; null when nothing was sent.
--   unique_human_open_rate_of_delivered: unique_human_opens / delivered; null when nothing was delivered.
with addressed as (
    select e.tenant_id, cast(e.event_at as date) as day, coalesce(p.provider, 'other') as provider,
           e.event_type, e.bounce_type, e.agent_class, e.ses_message_id || '|' || e.recipient as delivery
    from events e
    left join mailbox_providers p on p.domain = lower(split_part(e.recipient, '@', 2))
    where e.recipient is not null and e.tenant_id is not null
)
select tenant_id, day, provider,
       count(*) filter (where event_type = 'Send') as sent,
       count(*) filter (where event_type = 'Delivery') as delivered,
       count(*) filter (where event_type = 'Bounce' and bounce_type = 'Permanent') as hard_bounces,
       count(*) filter (where event_type = 'Bounce' and bounce_type is distinct from 'Permanent') as soft_bounces,
       count(*) filter (where event_type = 'Complaint') as complaints,
       count(distinct delivery) filter (where event_type = 'Open') as unique_opens,
       count(distinct delivery) filter (where event_type = 'Open' and agent_class = 'human') as unique_human_opens,
       count(distinct delivery) filter (where event_type = 'Click') as unique_clicks,
       count(distinct delivery) filter (where event_type = 'Click' and agent_class = 'human') as unique_human_clicks,
       hard_bounces / nullif(sent, 0) as hard_bounce_rate_of_sent,
       complaints / nullif(sent, 0) as complaint_rate_of_sent,
       unique_human_opens / nullif(delivered, 0) as unique_human_open_rate_of_delivered
from addressed
group by all
order by tenant_id, day, provider
