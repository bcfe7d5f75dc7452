-- One row per tenant × UTC day from its first to its last day of mail: what a help desk watches. A customer
-- is waiting from an inbound message that starts a stretch (the thread's first message, or the first after
-- one of our answers) until our next outbound message in the thread; the backlog at the end of a day is the
-- threads waiting then, by how long. A thread is resolved when our answer is its last message (counted on
-- that day). A first response is due first_response_sla_seconds (tenants) after the thread's first inbound
-- message; it is breached when the answer came later or not at all (counted on the day it was due, once that
-- moment is in the data: not after the newest message).
--
-- Columns:
--   tenant_id: The tenant.
--   day: The UTC day; backlog figures are at its end (midnight UTC).
--   backlog: Threads whose customer was waiting at the end of the day.
--   waiting_under_4h: Of those, waiting for less than 4 hours.
--   waiting_4h_to_24h: Waiting 4 to 24 hours.
--   waiting_1d_to_3d: Waiting 1 to 3 days.
--   waiting_over_3d: Waiting more than 3 days.
--   oldest_wait_seconds: The longest wait at the end of the day, in seconds; null with no backlog.
--   threads_resolved: Threads whose last message is an answer of ours sent that day.
--   median_resolution_seconds: Their median time from the first inbound message to that answer, in seconds.
--   first_responses_due: Threads whose first response was due that day.
--   first_response_sla_breaches: Of those, the threads answered later than due, or not yet.
with mail as (
    select tenant_id, thread_id, direction, received_at as arrived_at
    from messages
    where thread_id is not null and received_at is not null
),
ordered as (
    select tenant_id, thread_id, direction, arrived_at,
           lag(direction) over (partition by tenant_id, thread_id order by arrived_at, direction) as previous,
           min(case when direction = 'outbound' then arrived_at end) over (
               partition by tenant_id, thread_id order by arrived_at, direction
               rows between 1 following and unbounded following) as next_answer
    from mail
),
stretches as (
    select tenant_id, thread_id, arrived_at as waiting_since, next_answer as answered_at
    from ordered
    where direction = 'inbound' and (previous is null or previous = 'outbound')
),
days as (
    select tenant_id,
           cast(unnest(generate_series(min(arrived_at)::date, max(arrived_at)::date, interval 1 day)) as date) as day
    from mail
    group by tenant_id
),
backlog as (
    select d.tenant_id, d.day,
           count(*) as backlog,
           count(*) filter (where d.day + interval 1 day - s.waiting_since < interval 4 hour) as waiting_under_4h,
           count(*) filter (where d.day + interval 1 day - s.waiting_since >= interval 4 hour
                            and d.day + interval 1 day - s.waiting_since < interval 24 hour) as waiting_4h_to_24h,
           count(*) filter (where d.day + interval 1 day - s.waiting_since >= interval 24 hour
                            and d.day + interval 1 day - s.waiting_since < interval 72 hour) as waiting_1d_to_3d,
           count(*) filter (where d.day + interval 1 day - s.waiting_since >= interval 72 hour) as waiting_over_3d,
           max(epoch(d.day + interval 1 day) - epoch(s.waiting_since)) as oldest_wait_seconds
    from days d
    join stretches s
      on s.tenant_id = d.tenant_id
     and s.waiting_since < d.day + interval 1 day
     and (s.answered_at is null or s.answered_at >= d.day + interval 1 day)
    group by all
),
resolved as (
    select tenant_id, cast(last_at as date) as day,
           count(*) as threads_resolved,
           median(epoch(last_at) - epoch(first_inbound_at)) as median_resolution_seconds
    from threads
    where first_inbound_at is not null and not awaiting_reply
    group by all
),
due as (
    select t.tenant_id, cast(t.first_inbound_at + to_seconds(n.first_response_sla_seconds) as date) as day,
           count(*) as first_responses_due,
           count(*) filter (where t.first_reply_at is null
                            or t.first_reply_at > t.first_inbound_at + to_seconds(n.first_response_sla_seconds))
               as first_response_sla_breaches
    from threads t
    join tenants n on n.id = t.tenant_id
    where t.first_inbound_at is not null
      and t.first_inbound_at + to_seconds(n.first_response_sla_seconds) <= (select max(arrived_at) from mail)
    group by all
)
select d.tenant_id, d.day,
       coalesce(b.backlog, 0) as backlog,
       coalesce(b.waiting_under_4h, 0) as waiting_under_4h,
       coalesce(b.waiting_4h_to_24h, 0) as waiting_4h_to_24h,
       coalesce(b.waiting_1d_to_3d, 0) as waiting_1d_to_3d,
       coalesce(b.waiting_over_3d, 0) as waiting_over_3d,
       b.oldest_wait_seconds,
       coalesce(r.threads_resolved, 0) as threads_resolved,
       r.median_resolution_seconds,
       coalesce(u.first_responses_due, 0) as first_responses_due,
       coalesce(u.first_response_sla_breaches, 0) as first_response_sla_breaches
from days d
left join backlog b using (tenant_id, day)
left join resolved r using (tenant_id, day)
left join due u using (tenant_id, day)
order by d.tenant_id, d.day
