-- One row per thread: its messages and participants, when it started and last moved, the first
-- response (first inbound message to the first outbound message after it) and whether the last
-- word is the customer's (awaiting_reply). Times are arrival times (`received_at`).
--
-- Incremental: thread_id
--   messages: thread_id
--
-- Columns:
--   tenant_id: The tenant.
--   thread_id: The thread's current id (messages.thread_id).
--   subject: The subject of its first message.
--   message_count: Its messages.
--   inbound_messages: Its inbound messages.
--   outbound_messages: Its outbound messages.
--   participants: Sorted distinct addresses: the senders of its inbound mail, To and Cc of its outbound mail.
--   first_at: Arrival time of its first message.
--   last_at: Arrival time of its latest message.
--   first_inbound_at: Arrival time of its first inbound message; null when it has none.
--   first_reply_at: Arrival time of the first outbound message at or after first_inbound_at; null when
--     unanswered.
--   first_response_seconds: first_reply_at − first_inbound_at, in seconds; null when unanswered.
--   awaiting_reply: Whether the customer wrote last: an inbound message after the latest outbound one.
with mail as (
    select tenant_id, thread_id, direction, subject, from_address, to_addresses, cc_addresses,
           received_at as arrived_at
    from messages
    where thread_id is not null
),
first_inbound as (
    select tenant_id, thread_id, min(arrived_at) as first_inbound_at
    from mail
    where direction = 'inbound'
    group by all
),
first_reply as (
    select f.tenant_id, f.thread_id, min(m.arrived_at) as first_reply_at
    from first_inbound f
    join mail m on m.tenant_id = f.tenant_id and m.thread_id = f.thread_id
               and m.direction = 'outbound' and m.arrived_at >= f.first_inbound_at
    group by all
),
summary as (
    select tenant_id, thread_id,
           arg_min(subject, arrived_at) as subject,
           count(*) as message_count,
           count(*) filter (where direction = 'inbound') as inbound_messages,
           count(*) filter (where direction = 'outbound') as outbound_messages,
           list_sort(list_distinct(flatten(list(
               case when direction = 'inbound' then [from_address] else to_addresses || cc_addresses end
           )))) as participants,
           min(arrived_at) as first_at,
           max(arrived_at) as last_at,
           max(arrived_at) filter (where direction = 'inbound') as last_inbound_at,
           max(arrived_at) filter (where direction = 'outbound') as last_outbound_at
    from mail
    group by all
)
select s.tenant_id, s.thread_id, s.subject, s.message_count, s.inbound_messages, s.outbound_messages,
       s.participants, s.first_at, s.last_at, fi.first_inbound_at, fr.first_reply_at,
       epoch(fr.first_reply_at) - epoch(fi.first_inbound_at) as first_response_seconds,
       s.last_inbound_at is not null
           and (s.last_outbound_at is null or s.last_outbound_at < s.last_inbound_at) as awaiting_reply
from summary s
left join first_inbound fi using (tenant_id, thread_id)
left join first_reply fr using (tenant_id, thread_id)
order by s.tenant_id, s.first_at, s.thread_id
