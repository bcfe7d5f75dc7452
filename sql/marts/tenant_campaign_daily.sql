-- One row per tenant × UTC day × campaign: the events of mail that carried the `campaign` message tag
-- (set by the tenant when sending), counted and rated as mail platforms show a campaign. Mail without the
-- tag is not in this table (tenant_daily counts everything).
--
-- Incremental: day
--   events: cast(event_at as date)
--
-- Columns:
--   tenant_id: The sending tenant.
--   day: The UTC day of the events.
--   campaign: The `campaign` tag's value.
--   sent: Send events.
--   delivered: Delivery events.
--   hard_bounces: Bounce events of type `Permanent`.
--   soft_bounces: The other Bounce events.
--   complaints: Complaint events.
--   unique_human_opens: Distinct message × recipient opened by a person (Open classified `human`).
--   unique_human_clicks: Distinct message × recipient clicked by a person.
--   unsubscribes: Subscription events.
--   unique_human_open_rate_of_delivered: unique_human_opens / delivered; null when nothing was delivered.
--   unique_human_click_rate_of_delivered: unique_human_clicks / delivered; null when nothing was delivered.
with tagged as (
    select tenant_id, cast(event_at as date) as day, campaign, event_type, bounce_type, agent_class,
           ses_message_id || '|' || coalesce(recipient, '') as delivery
    from events
    where campaign is not null and tenant_id is not null
)
select tenant_id, day, campaign,
       count(*) filter (where event_type = 'Send') as sent,
       count(*) filter (where event_type = 'Delivery') as delivered,
       count(*) filter (where event_type = 'Bounce' and bounce_type = 'Permanent') as hard_bounces,
       count(*) filter (where event_type = 'Bounce' and bounce_type is distinct from 'Permanent') as soft_bounces,
       count(*) filter (where event_type = 'Complaint') as complaints,
       count(distinct delivery) filter (where event_type = 'Open' and agent_class = 'human') as unique_human_opens,
       count(distinct delivery) filter (where event_type = 'Click' and agent_class = 'human') as unique_human_clicks,
       count(*) filter (where event_type = 'Subscription') as unsubscribes,
       unique_human_opens / nullif(delivered, 0) as unique_human_open_rate_of_delivered,
       unique_human_clicks / nullif(delivered, 0) as unique_human_click_rate_of_delivered
from tagged
group by all
order by tenant_id, day, campaign
