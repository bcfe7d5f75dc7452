-- One row per tenant × UTC day × kind of negative feedback: bounces by SES's type and subtype (a
-- suppression-list bounce is SES refusing to send to an address on its suppression list, the account's or
-- its own global one) and complaints by feedback type (ARF `abuse`, `fraud`, …; `not reported` when the
-- mailbox provider gave none).
--
-- Incremental: day
--   events: cast(event_at as date)
--
-- Columns:
--   tenant_id: The sending tenant.
--   day: The UTC day of the events.
--   kind: `bounce` or `complaint`.
--   type: Bounce: `Permanent` (hard), `Transient` (soft) or `Undetermined`; complaint: the feedback type.
--   subtype: Bounce: SES's subtype (`General`, `NoEmail`, `Suppressed`, `OnAccountSuppressionList`,
--     `MailboxFull`, `MessageTooLarge`, `ContentRejected`, `AttachmentRejected`, …); complaint: null.
--   suppression_list: Whether SES refused because the address is on a suppression list (subtype `Suppressed`
--     or `OnAccountSuppressionList`): the mail was never attempted.
--   events: Events of this kind, type and subtype.
--   recipients: Distinct recipients among them.
select tenant_id, cast(event_at as date) as day,
       lower(event_type) as kind,
       case when event_type = 'Bounce' then coalesce(bounce_type, 'Undetermined')
            else coalesce(complaint_feedback_type, 'not reported') end as type,
       case when event_type = 'Bounce' then coalesce(bounce_subtype, 'Undetermined') end as subtype,
       coalesce(event_type = 'Bounce' and bounce_subtype in ('Suppressed', 'OnAccountSuppressionList'), false)
           as suppression_list,
       count(*) as events,
       count(distinct recipient) as recipients
from events
where event_type in ('Bounce', 'Complaint') and tenant_id is not null
group by all
order by tenant_id, day, kind, type, subtype
