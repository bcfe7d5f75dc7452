-- One row per SES sending event × affected recipient, deduplicated: the bounced, complained, delayed
-- or delivered recipients; the destination for Send, Reject and the like; for Open and Click the
-- recipient only when the mail had exactly one.
--
-- Incremental: date
--
-- Columns:
--   fingerprint: md5 of the event's JSON text as delivered: a dedupe key (one row per fingerprint ×
--     recipient), not a security measure.
--   event_type: `Send`, `Delivery`, `Bounce`, `Complaint`, `Reject`, `Open`, `Click`, `Rendering Failure`,
--     `DeliveryDelay` or `Subscription`.
--   ses_message_id: The SES message id of the mail the event is about (joins outbound messages).
--   tenant_id: The sending tenant, by message tag, configuration set, then From domain.
--   attributed_by: The rule that attributed the tenant: `message_tag`, `configuration_set` or
--     `from_domain`.
--   recipient: The affected recipient, lower-case; null when SES does not say.
--   event_at: When the event happened (UTC): the event's own timestamp, else the mail's.
--   sent_at: When SES accepted the mail (UTC).
--   configuration_set: The `ses:configuration-set` tag; null when absent.
--   from_domain: The `ses:from-domain` tag; null when absent.
--   bounce_type: Bounce: `Permanent` (a hard bounce), `Transient` or `Undetermined`.
--   bounce_subtype: Bounce: SES's subtype (`General`, `NoEmail`, `MailboxFull`, …).
--   diagnostic_code: Bounce: the receiving server's diagnostic for this recipient.
--   complaint_feedback_type: Complaint: the feedback type (`abuse`, …); null when not reported.
--   delay_type: DeliveryDelay: SES's delay type (`MailboxFull`, `TransientCommunicationFailure`, …).
--   link: Click: the URL clicked.
--   link_tags: Click: the link's tags as JSON; null when none.
--   ip: Open and Click: the address the request came from.
--   user_agent: Open and Click: the requester's user agent.
--   agent_class: Open and Click: `human`, `apple_proxy` (Mail Privacy Protection), `gmail_proxy` or
--     `scanner` (a link or security scanner); null for other types.
--   feedback_id: Bounce and Complaint: SES's feedback id.
--   source_key: The events file's key in the bucket (the earliest file holding the event).
--   line_number: The event's line in that file.
--   date: Lake partition: the event's UTC day.
--   tenant: Lake partition: the tenant (equals tenant_id).
select fingerprint, event_type, ses_message_id, tenant_id, attributed_by, recipient, event_at, sent_at,
       configuration_set, from_domain, bounce_type, bounce_subtype, diagnostic_code, complaint_feedback_type,
       delay_type, link, link_tags, ip, user_agent, agent_class, feedback_id, source_key, line_number, date, tenant
from source.events
