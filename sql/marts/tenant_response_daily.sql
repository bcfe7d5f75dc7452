-- One row per tenant × UTC day on which customers opened threads: how many, how many got an
-- answer, and the median and 90th percentile first response time of those answered.
--
-- Columns:
--   tenant_id: The tenant.
--   day: The UTC day the threads' first inbound message arrived.
--   threads_opened: Threads whose first inbound message arrived that day.
--   threads_answered: Of those, the threads with an outbound message after it.
--   median_first_response_seconds: The answered threads' median first response time, in seconds.
--   p90_first_response_seconds: Their 90th percentile first response time, in seconds.
select tenant_id,
       cast(first_inbound_at as date) as day,
       count(*) as threads_opened,
       count(first_response_seconds) as threads_answered,
       median(first_response_seconds) as median_first_response_seconds,
       quantile_cont(first_response_seconds, 0.9) as p90_first_response_seconds
from threads
where first_inbound_at is not null
group by all
order by tenant_id, day
