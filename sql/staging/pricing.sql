-- SES à-la-carte prices (us-east-1) in US dollars that tenant_costs estimates with; one row, from
-- `pipelines/warehouse/pricing.py`, the one place to change them.
--
-- Columns:
--   outbound_per_recipient: Per recipient of outbound mail.
--   attachment_per_gb: Per GB (10^9 bytes) of outbound attachments.
--   inbound_per_message: Per inbound message.
--   inbound_per_chunk: Per 256 KB chunk of inbound mail.
select outbound_per_recipient, attachment_per_gb, inbound_per_message, inbound_per_chunk
from source.pricing
