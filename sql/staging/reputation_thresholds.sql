-- SES's account-level reputation levels per sent recipient (one row, from
-- `pipelines/warehouse/thresholds.py`): at review SES puts the account under review, at pause it may pause
-- sending.
--
-- Columns:
--   bounce_review: Hard-bounce rate at which SES reviews the account (5 %).
--   bounce_pause: Hard-bounce rate at which SES may pause sending (10 %).
--   complaint_review: Complaint rate at which SES reviews the account (0.1 %).
--   complaint_pause: Complaint rate at which SES may pause sending (0.5 %).
--   warning_share: `warning` starts at this share of the review level.
select bounce_review, bounce_pause, complaint_review, complaint_pause, warning_share
from source.reputation_thresholds
