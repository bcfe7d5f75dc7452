-- One row per tenant × UTC day: mail volumes, delivery outcomes and engagement.
-- Rates are per sent recipient; hard bounces only, as SES counts them.
--
-- Incremental: day
--   messages: cast(received_at as date)
--   events: cast(event_at as date)
--
-- Columns:
--   tenant_id: The tenant.
--   day: The UTC day: mail by arrival (received_at), events by event_at.
--   inbound_messages: Inbound messages that arrived.
--   outbound_messages: Outbound messages archived.
--   sent: Send events, one per recipient.
--   delivered: Delivery events.
--   hard_bounces: Bounce events of type `Permanent`.
--   soft_bounces: The other Bounce events.
--   complaints: Complaint events.
--   rejects: Reject events.
--   delivery_delays: DeliveryDelay events.
--   opens: Open events, every agent class.
--   unique_opens: Distinct message × recipient opened.
--   human_opens: Open events classified `human`.
--   unique_human_opens: Distinct message × recipient opened by a person (an Open classified `human`).
--   clicks: Click events, every agent class.
--   unique_clicks: Distinct message × recipient clicked.
--   human_clicks: Click events classified `human`.
--   unique_human_clicks: Distinct message × recipient clicked by a person (a Click classified `human`).
--   unsubscribes: Subscription events (a recipient changed a topic preference or unsubscribed).
--   bounce_rate: hard_bounces / sent; null when nothing was sent.
--   complaint_rate: complaints / sent; null when nothing was sent.
--   unique_open_rate_of_delivered: unique_opens / delivered; null when nothing was delivered.
--   unique_human_open_rate_of_delivered: unique_human_opens / delivered: what mail platforms call the open
--     rate, without machine opens (Apple Mail Privacy Protection, Gmail's image proxy, scanners).
--   unique_click_rate_of_delivered: unique_clicks / delivered.
--   unique_human_click_rate_of_delivered: unique_human_clicks / delivered: the click rate without scanners.
with mail as (
    select tenant_id, cast(received_at as date) as day,
           count(*) filter (where direction = 'inbound') as inbound_messages,
           count(*) filter (where direction = 'outbound') as outbound_messages
    from messages
    group by all
),
activity as (
    select tenant_id, cast(event_at as date) as day,
           count(*) filter (where event_type = 'Send') as sent,
           count(*) filter (where event_type = 'Delivery') as delivered,
           count(*) filter (where event_type = 'Bounce' and bounce_type = 'Permanent') as hard_bounces,
           count(*) filter (where event_type = 'Bounce' and bounce_type is distinct from 'Permanent') as soft_bounces,
           count(*) filter (where event_type = 'Complaint') as complaints,
           count(*) filter (where event_type = 'Reject') as rejects,
           count(*) filter (where event_type = 'DeliveryDelay') as delivery_delays,
           count(*) filter (where event_type = 'Open') as opens,
           count(distinct ses_message_id || '|' || coalesce(recipient, '')) filter (where event_type = 'Open')
               as unique_opens,
           count(*) filter (where event_type = 'Open' and agent_class = 'human') as human_opens,
           count(distinct ses_message_id || '|' || coalesce(recipient, ''))
               filter (where event_type = 'Open' and agent_class = 'human') as unique_human_opens,
           count(*) filter (where event_type = 'Click') as clicks,
           count(distinct ses_message_id || '|' || coalesce(recipient, '')) filter (where event_type = 'Click')
               as unique_clicks,
           count(*) filter (where event_type = 'Click' and agent_class = 'human') as human_clicks,
           count(distinct ses_message_id || '|' || coalesce(recipient, ''))
               filter (where event_type = 'Click' and agent_class = 'human') as unique_human_clicks,
           count(*) filter (where event_type = 'Subscription') as unsubscribes
    from events
    group by all
)
select tenant_id, day,
       coalesce(m.inbound_messages, 0) as inbound_messages,
       coalesce(m.outbound_messages, 0) as outbound_messages,
       coalesce(a.sent, 0) as sent,
       coalesce(a.delivered, 0) as delivered,
       coalesce(a.hard_bounces, 0) as hard_bounces,
       coalesce(a.soft_bounces, 0) as soft_bounces,
       coalesce(a.complaints, 0) as complaints,
       coalesce(a.rejects, 0) as rejects,
       coalesce(a.delivery_delays, 0) as delivery_delays,
       coalesce(a.opens, 0) as opens,
       coalesce(a.unique_opens, 0) as unique_opens,
       coalesce(a.human_opens, 0) as human_opens,
       coalesce(a.unique_human_opens, 0) as unique_human_opens,
       coalesce(a.clicks, 0) as clicks,
       coalesce(a.unique_clicks, 0) as unique_clicks,
       coalesce(a.human_clicks, 0) as human_clicks,
       coalesce(a.unique_human_clicks, 0) as unique_human_clicks,
       coalesce(a.unsubscribes, 0) as unsubscribes,
       coalesce(a.hard_bounces, 0) / nullif(a.sent, 0) as bounce_rate,
       coalesce(a.complaints, 0) / nullif(a.sent, 0) as complaint_rate,
       coalesce(a.unique_opens, 0) / nullif(a.delivered, 0) as unique_open_rate_of_delivered,
       coalesce(a.unique_human_opens, 0) / nullif(a.delivered, 0) as unique_human_open_rate_of_delivered,
       coalesce(a.unique_clicks, 0) / nullif(a.delivered, 0) as unique_click_rate_of_delivered,
       coalesce(a.unique_human_clicks, 0) / nullif(a.delivered, 0) as unique_human_click_rate_of_delivered
from mail m
full outer join activity a using (tenant_id, day)
order by tenant_id, day
