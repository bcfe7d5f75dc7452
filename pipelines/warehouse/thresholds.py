"""SES's account-level reputation thresholds, per sent recipient: at the review level SES puts the account
under review, at the pause level it may pause sending. The warehouse's `tenant_reputation` and the HTML
report's reference lines both use these (the one place to change them)."""

BOUNCE_REVIEW = 0.05
BOUNCE_PAUSE = 0.10
COMPLAINT_REVIEW = 0.001
COMPLAINT_PAUSE = 0.005
WARNING_SHARE = 0.5
"""`warning` starts at this share of the review level."""
