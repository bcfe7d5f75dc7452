-- Estimated SES cost per tenant × month at à-la-carte prices (the model pricing, from
-- pipelines/warehouse/pricing.py): outbound per recipient sent, outbound attachment bytes, inbound per
-- message and per 256 KB chunk.
--
-- Columns:
--   tenant_id: The tenant.
--   month: The month's first day: Send events by event time, mail by arrival (UTC).
--   recipients_sent: Send events, one per recipient.
--   outbound_attachment_bytes: Attachment bytes of the outbound mail archived that month.
--   inbound_messages: Inbound messages that arrived that month.
--   inbound_chunks: Their 256 KB chunks.
--   outbound_usd: recipients_sent × pricing.outbound_per_recipient.
--   attachments_usd: outbound_attachment_bytes / 10^9 × pricing.attachment_per_gb.
--   inbound_usd: inbound_messages × pricing.inbound_per_message + inbound_chunks × pricing.inbound_per_chunk.
--   total_usd: outbound_usd + attachments_usd + inbound_usd.
with outbound as (
    select tenant_id, date_trunc('month', event_at) as month, count(*) as recipients_sent
    from events where event_type = 'Send'
    group by all
),
attachments as (
    select tenant_id, date_trunc('month', received_at) as month, sum(attachment_bytes) as attachment_bytes
    from messages where direction = 'outbound'
    group by all
),
inbound as (
    select tenant_id, date_trunc('month', received_at) as month,
           count(*) as inbound_messages, sum(chunk_count) as inbound_chunks
    from messages where direction = 'inbound'
    group by all
),
months as (
    select tenant_id, month from outbound union select tenant_id, month from attachments
    union select tenant_id, month from inbound
),
prices as (select * from pricing)
select m.tenant_id, cast(m.month as date) as month,
       coalesce(o.recipients_sent, 0) as recipients_sent,
       coalesce(a.attachment_bytes, 0) as outbound_attachment_bytes,
       coalesce(i.inbound_messages, 0) as inbound_messages,
       coalesce(i.inbound_chunks, 0) as inbound_chunks,
       coalesce(o.recipients_sent, 0) * p.outbound_per_recipient as outbound_usd,
       coalesce(a.attachment_bytes, 0) / 1e9 * p.attachment_per_gb as attachments_usd,
       coalesce(i.inbound_messages, 0) * p.inbound_per_message + coalesce(i.inbound_chunks, 0) * p.inbound_per_chunk
           as inbound_usd,
       outbound_usd + attachments_usd + inbound_usd as total_usd
from months m
cross join prices p
left join outbound o using (tenant_id, month)
left join attachments a using (tenant_id, month)
left join inbound i using (tenant_id, month)
order by m.tenant_id, month
