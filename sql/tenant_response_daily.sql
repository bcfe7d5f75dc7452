-- One row per tenant × UTC day on which customers opened threads: how many, how many got an
-- answer, and the median and 90th percentile first response time of those answered.
create table tenant_response_daily as
select tenant_id,
       cast(first_inbound_at as date) as day,
       count(*) as threads_opened,
       count(first_response_seconds) as threads_answered,
       median(first_response_seconds) as median_first_response_seconds,
       quantile_cont(first_response_seconds, 0.9) as p90_first_response_seconds
from threads
where first_inbound_at is not null
group by all
order by tenant_id, day;
