-- One row per message the lake holds: inbound mail SES received for a tenant and outbound mail the reply
-- service sent and archived (unusable objects are in quarantine instead), with the message's current
-- thread. A thread joined into an older one by later mail is read through thread_renames, so every
-- message of a conversation carries the surviving id.
--
-- Incremental: date
--   thread_renames: whole
--
-- Columns:
--   tenant_id: The tenant the message belongs to (registry id); attributed_by names the rule that decided.
--   direction: `inbound` (received by SES for a tenant) or `outbound` (sent by the reply service).
--   object_key: The message's object key in the archive bucket; with direction, the message's identity.
--   ses_message_id: SES's message id: the object's file name without `.eml` (outbound: the id its events
--     carry).
--   rfc_message_id: The Message-ID header without angle brackets; null when absent.
--   in_reply_to: The In-Reply-To header as written (decoded); null when absent.
--   references: The References header as written (decoded); null when absent.
--   reference_ids: Every message id of References then In-Reply-To, bare, in order, without repeats.
--   thread_index: The Thread-Index header (Outlook's conversation index) as written; null when absent.
--   subject: The decoded subject, whitespace collapsed; '' when absent.
--   subject_normalized: The subject lower-cased, without reply/forward prefixes, [tags] or extra spaces.
--   from_address: The From address (domain lower-cased); null when absent.
--   from_name: The From display name; '' when absent.
--   to_addresses: The To addresses, in header order.
--   cc_addresses: The Cc addresses, in header order.
--   reply_to_addresses: The Reply-To addresses, in header order.
--   envelope_sender: The Return-Path (inbound mail); null when absent.
--   envelope_recipients: The `for <…>` addresses of SES's Received header (inbound mail); empty otherwise.
--   sent_at: The Date header in UTC; SES's receipt time or the object's time when it is missing or
--     unparseable (see date_source).
--   date_source: Where sent_at comes from: `header`, `ses_received` or `object_time`.
--   received_at: The arrival time in UTC: SES's receipt time for inbound mail (else the object's time),
--     the archive time for outbound mail.
--   size_bytes: The raw message's size in bytes.
--   chunk_count: The 256 KB chunks SES bills inbound mail by (at least 1).
--   text_body: The plain-text body; converted from HTML when the message has no (or a blank) text part.
--   body_from_html: Whether text_body was converted from the HTML part.
--   has_html: Whether the message has an HTML part.
--   attachment_count: The number of attachments (see attachments).
--   attachment_bytes: The attachments' decoded size in bytes.
--   spam_verdict: SES's spam verdict as SES writes it (`PASS`, `FAIL`, `GRAY`, …); null for outbound mail.
--   virus_verdict: SES's virus verdict (`PASS`, `FAIL`, …); null for outbound mail.
--   spf_verdict: SES's SPF verdict (`pass`, `fail`, `softfail`, `none`, …); null for outbound mail.
--   dkim_verdict: SES's DKIM verdict (`pass`, `fail`, …); null for outbound mail.
--   dmarc_verdict: SES's DMARC verdict (`pass`, `fail`, …); null for outbound mail.
--   configuration_set: The X-SES-Configuration-Set header; null when absent.
--   attributed_by: The rule that attributed the tenant: inbound `notification`, `ses_envelope`,
--     `forwarded_to`, `inbound_address_header`, `public_address_header`; outbound `message_tag`,
--     `configuration_set`, `from_domain`, `archive_path`.
--   parser: The parser path that read the message: `fast`, `fallback` or `stream`.
--   parse_warnings: Sorted flags of what was repaired or missing (`date_missing`, `charset_unknown`,
--     `smtp_id_mismatch`, …).
--   date: Lake partition: the UTC day the object arrived in the bucket.
--   tenant: Lake partition: the tenant (equals tenant_id).
--   thread_id: The message's current thread id; null until the message is threaded.
with recursive renamed(old_thread_id, thread_id, depth) as (
    select old_thread_id, thread_id, 1 from source.thread_renames
    union all
    select r.old_thread_id, n.thread_id, r.depth + 1
    from renamed r join source.thread_renames n on n.old_thread_id = r.thread_id
    where r.depth < 1000
),
current_id as (
    select old_thread_id, arg_max(thread_id, depth) as thread_id from renamed group by all
)
select m.tenant_id, m.direction, m.object_key, m.ses_message_id, m.rfc_message_id, m.in_reply_to, m."references",
       m.reference_ids, m.thread_index, m.subject, m.subject_normalized, m.from_address, m.from_name,
       m.to_addresses, m.cc_addresses, m.reply_to_addresses, m.envelope_sender, m.envelope_recipients, m.sent_at,
       m.date_source, m.received_at, m.size_bytes, m.chunk_count, m.text_body, m.body_from_html, m.has_html,
       m.attachment_count, m.attachment_bytes, m.spam_verdict, m.virus_verdict, m.spf_verdict, m.dkim_verdict,
       m.dmarc_verdict, m.configuration_set, m.attributed_by, m.parser, m.parse_warnings, m.date, m.tenant,
       coalesce(c.thread_id, t.thread_id) as thread_id
from source.messages m
left join source.message_threads t on t.direction = m.direction and t.object_key = m.object_key
left join current_id c on c.old_thread_id = t.thread_id
