-- One row per outbound message × recipient: delivery outcome and engagement.
-- final_status precedence: complained > bounced > rejected > delivered > delayed > sent.
-- Opens and clicks join on the recipient, which SES only knows for single-recipient mail.
--
-- Incremental: ses_message_id
--   events: ses_message_id
--
-- Columns:
--   tenant_id: The sending tenant.
--   ses_message_id: The outbound message's SES message id.
--   recipient: The recipient, lower-case.
--   sent_at: The Send event's time for this recipient, else the time SES accepted the mail (UTC).
--   delivered_at: The first Delivery event's time; null when not delivered.
--   final_status: `complained`, `bounced`, `rejected`, `delivered`, `delayed` or `sent`: the first of these
--     the recipient's events reached.
--   bounce_type: The latest Bounce's type (`Permanent`, `Transient`, …); null when it did not bounce.
--   opens: Open events (0 when SES could not tell the recipient: mail to several recipients).
--   human_opens: Open events classified `human`.
--   first_open_at: The first Open event's time; null when never opened.
--   clicks: Click events (0 when SES could not tell the recipient).
--   human_clicks: Click events classified `human`.
--   first_click_at: The first Click event's time; null when never clicked.
with deliveries as (
    select tenant_id, ses_message_id, recipient,
           min(event_at) filter (where event_type = 'Send') as send_at,
           min(sent_at) as mail_sent_at,
           min(event_at) filter (where event_type = 'Delivery') as delivered_at,
           count(*) filter (where event_type = 'Bounce') as bounces,
           arg_max(bounce_type, event_at) filter (where event_type = 'Bounce') as bounce_type,
           count(*) filter (where event_type = 'Complaint') as complaints,
           count(*) filter (where event_type = 'Reject') as rejects,
           count(*) filter (where event_type = 'DeliveryDelay') as delays
    from events
    where recipient is not null
      and event_type in ('Send', 'Delivery', 'Bounce', 'Complaint', 'Reject', 'DeliveryDelay')
    group by all
),
engagement as (
    select ses_message_id, recipient,
           count(*) filter (where event_type = 'Open') as opens,
           count(*) filter (where event_type = 'Open' and agent_class = 'human') as human_opens,
           min(event_at) filter (where event_type = 'Open') as first_open_at,
           count(*) filter (where event_type = 'Click') as clicks,
           count(*) filter (where event_type = 'Click' and agent_class = 'human') as human_clicks,
           min(event_at) filter (where event_type = 'Click') as first_click_at
    from events
    where event_type in ('Open', 'Click') and recipient is not null
    group by all
)
select d.tenant_id, d.ses_message_id, d.recipient,
       coalesce(d.send_at, d.mail_sent_at) as sent_at,
       d.delivered_at,
       case when d.complaints > 0 then 'complained'
            when d.bounces > 0 then 'bounced'
            when d.rejects > 0 then 'rejected'
            when d.delivered_at is not null then 'delivered'
            when d.delays > 0 then 'delayed'
            else 'sent' end as final_status,
       d.bounce_type,
       coalesce(e.opens, 0) as opens,
       coalesce(e.human_opens, 0) as human_opens,
       e.first_open_at,
       coalesce(e.clicks, 0) as clicks,
       coalesce(e.human_clicks, 0) as human_clicks,
       e.first_click_at
from deliveries d
left join engagement e using (ses_message_id, recipient)
order by d.tenant_id, sent_at, d.ses_message_id, d.recipient
