-- Per tenant over the trailing 30 days that end on the newest day in tenant_daily (the data's
-- "today", so a rebuild of the same lake gives the same answer): hard-bounce and complaint rates
-- per sent recipient against SES's account thresholds (reputation_thresholds). review / pause_risk are
-- SES's own levels (bounce 5 % / 10 %, complaint 0.1 % / 0.5 %); warning is half of review.
--
-- Columns:
--   tenant_id: The tenant (tenants with a row in tenant_daily).
--   window_start: The window's first day.
--   window_end: The window's last day: the newest day in tenant_daily, the same for every tenant.
--   sent: Send events in the window.
--   hard_bounces: Hard bounces in the window.
--   complaints: Complaints in the window.
--   bounce_rate: hard_bounces / sent; null when nothing was sent.
--   complaint_rate: complaints / sent; null when nothing was sent.
--   status: `pause_risk` (bounce ≥ 10 % or complaint ≥ 0.5 %), `review` (≥ 5 % / ≥ 0.1 %), `warning`
--     (≥ 2.5 % / ≥ 0.05 %) or `ok`.
with window_end as (select max(day) as last_day from tenant_daily),
totals as (
    select t.tenant_id,
           (select last_day from window_end) - interval 29 day as window_start,
           (select last_day from window_end) as window_end,
           sum(sent) as sent,
           sum(hard_bounces) as hard_bounces,
           sum(complaints) as complaints
    from tenant_daily t
    where day > (select last_day from window_end) - interval 30 day
    group by t.tenant_id
)
select tenant_id, cast(window_start as date) as window_start, window_end, sent, hard_bounces, complaints,
       hard_bounces / nullif(sent, 0) as bounce_rate,
       complaints / nullif(sent, 0) as complaint_rate,
       case when coalesce(hard_bounces / nullif(sent, 0), 0) >= l.bounce_pause
                 or coalesce(complaints / nullif(sent, 0), 0) >= l.complaint_pause then 'pause_risk'
            when coalesce(hard_bounces / nullif(sent, 0), 0) >= l.bounce_review
                 or coalesce(complaints / nullif(sent, 0), 0) >= l.complaint_review then 'review'
            when coalesce(hard_bounces / nullif(sent, 0), 0) >= l.bounce_review * l.warning_share
                 or coalesce(complaints / nullif(sent, 0), 0) >= l.complaint_review * l.warning_share then 'warning'
            else 'ok' end as status
from totals
cross join reputation_thresholds l
order by tenant_id
