"""`ThreadColumns` from the lake's `messages` table and from parsed mail, so the batch and the CLI
give threading the same inputs.

Counterparties (`participants`, what the subject fallback compares) are the customer side of a
message: for inbound mail its Reply-To (a web form's sender is the form, not the customer) or else its
From; for outbound mail its To and Cc. Tracking addresses are never counterparties.

Tracking addresses (`tracking`) are kept only when their keyed token verifies for the message's mailbox
(its tenant) with the tracking secret (`pipelines.threads.tracking`): for outbound mail those it set as
Reply-To (which register the case), for inbound mail those it was sent to (To, Cc, envelope), never its
Reply-To. SES's SPF, DKIM and DMARC verdicts are passed on for the engine's authentication rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.mime.message import ParsedMessage
from pipelines.storage.schemas import OUTBOUND
from pipelines.threads.engine import ThreadColumns
from pipelines.threads.subjects import normalize_subject, subject_has_marker
from pipelines.threads.tracking import is_tracking_address, verify_tracking_address

LAKE_COLUMNS = (
    "tenant_id",
    "direction",
    "object_key",
    "ses_message_id",
    "rfc_message_id",
    "in_reply_to",
    "reference_ids",
    "thread_index",
    "subject",
    "subject_normalized",
    "from_address",
    "to_addresses",
    "cc_addresses",
    "reply_to_addresses",
    "envelope_sender",
    "envelope_recipients",
    "spf_verdict",
    "dkim_verdict",
    "dmarc_verdict",
    "sent_at",
    "received_at",
)
"""The `messages` columns threading reads."""


def participants_for(
    direction: str, from_address: str | None, reply_to: Sequence[str], to: Sequence[str], cc: Sequence[str]
) -> tuple[str, ...]:
    if direction == OUTBOUND:
        found = [*to, *cc]
    else:
        found = [a for a in reply_to if not is_tracking_address(a)] or ([from_address] if from_address else [])
    return tuple(sorted({a.lower() for a in found if a and not is_tracking_address(a)}))


def case_addresses(
    direction: str,
    reply_to: Sequence[str],
    sent_to: Sequence[str],
    tenant_id: str,
    tracking_secret: str,
    inbound_domains: Iterable[str] | None = None,
) -> list[str]:
    """What `ThreadColumns.tracking` holds for a message: the tracking addresses whose token verifies for
    its tenant, among those outbound mail set as Reply-To or those inbound mail was sent to (`sent_to`: To,
    Cc and envelope recipients); lower-cased, once each, on an inbound domain when the domains are known."""
    domains = set(inbound_domains) if inbound_domains else None
    found: list[str] = []
    for address in reply_to if direction == OUTBOUND else sent_to:
        address = address.lower()
        if address in found or (domains is not None and address.rpartition("@")[2] not in domains):
            continue
        if verify_tracking_address(address, tenant_id, secret=tracking_secret) is not None:
            found.append(address)
    return found


def _lower_all(*groups: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a.lower() for group in groups for a in group if a))


def _seconds(column: pa.ChunkedArray | pa.Array) -> list[float | None]:
    micros = pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64()).to_pylist()
    return [None if m is None else m / 1_000_000 for m in micros]


def columns_from_lake(
    table: pa.Table, inbound_domains: Iterable[str] | None = None, tracking_secret: str = ""
) -> ThreadColumns:
    """Columns for the rows of the lake's `messages` table (any row order; threading sorts by arrival).

    The mailbox is the tenant; `received_at` (SES receipt, or archive time for outbound mail) is the
    arrival time; inbound rows' `ses_message_id` (the receipt id) is not a Message-ID and is not used.
    `tracking_secret` is `Settings.tracking_secret` ('' = the development key).
    """
    data = table.select(list(LAKE_COLUMNS))
    col = {name: data.column(name).to_pylist() for name in LAKE_COLUMNS if name not in ("sent_at", "received_at")}
    sent = _seconds(data.column("sent_at"))
    received = _seconds(data.column("received_at"))
    columns = ThreadColumns()
    for i, direction in enumerate(col["direction"]):
        reply_to = col["reply_to_addresses"][i] or []
        to = col["to_addresses"][i] or []
        cc = col["cc_addresses"][i] or []
        envelope = col["envelope_recipients"][i] or []
        tenant = col["tenant_id"][i] or ""
        columns.mailbox.append(tenant)
        columns.row_key.append(col["object_key"][i] or str(i))
        columns.message_id.append(col["rfc_message_id"][i])
        columns.ses_message_id.append(col["ses_message_id"][i] if direction == OUTBOUND else None)
        columns.outbound.append(direction == OUTBOUND)
        columns.reference_ids.append(col["reference_ids"][i])
        columns.in_reply_to.append(col["in_reply_to"][i])
        columns.thread_index.append(col["thread_index"][i])
        columns.tracking.append(
            case_addresses(direction, reply_to, [*to, *cc, *envelope], tenant, tracking_secret, inbound_domains)
        )
        columns.subject.append(col["subject_normalized"][i])
        columns.subject_marked.append(subject_has_marker(col["subject"][i]))
        columns.from_address.append(col["from_address"][i])
        columns.participants.append(participants_for(direction, col["from_address"][i], reply_to, to, cc))
        columns.addresses.append(
            _lower_all([col["from_address"][i], col["envelope_sender"][i]], to, cc, reply_to, envelope)
        )
        columns.spf_verdict.append(col["spf_verdict"][i])
        columns.dkim_verdict.append(col["dkim_verdict"][i])
        columns.dmarc_verdict.append(col["dmarc_verdict"][i])
        columns.sent_at.append(sent[i])
        columns.arrived_at.append(received[i] if received[i] is not None else sent[i])
    return columns


@dataclass(slots=True)
class MailItem:
    """A parsed message and what its source tells: mailbox, direction, SES id, a unique row key."""

    message: ParsedMessage
    mailbox: str
    direction: str
    ses_message_id: str | None
    row_key: str
    arrived_at: datetime | None = None
    """When it reached the mailbox; defaults to SES's receipt time, then the Date header."""


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def columns_from_parsed(
    items: Iterable[MailItem], inbound_domains: Iterable[str] | None = None, tracking_secret: str = ""
) -> ThreadColumns:
    """Columns for parsed mail, as `columns_from_lake` gives them for the same messages in the lake
    (the mailbox is the item's; the verdicts are SES's prepended ones, absent on mail SES did not receive)."""
    columns = ThreadColumns()
    domains = list(inbound_domains) if inbound_domains else None
    for item in items:
        m = item.message
        from_address = m.from_.address if m.from_ else None
        reply_to = [a.address for a in m.reply_to]
        to = [a.address for a in m.to]
        cc = [a.address for a in m.cc]
        envelope = [*m.ses.envelope_recipients, *m.forwarded_to]
        arrived = item.arrived_at or m.ses.received_at or m.date
        columns.mailbox.append(item.mailbox)
        columns.row_key.append(item.row_key)
        columns.message_id.append(m.message_id)
        columns.ses_message_id.append(item.ses_message_id if item.direction == OUTBOUND else None)
        columns.outbound.append(item.direction == OUTBOUND)
        columns.reference_ids.append(m.reference_ids)
        columns.in_reply_to.append(m.in_reply_to)
        columns.thread_index.append(m.headers.get("thread-index"))
        columns.tracking.append(
            case_addresses(item.direction, reply_to, [*to, *cc, *envelope], item.mailbox, tracking_secret, domains)
        )
        columns.subject.append(normalize_subject(m.subject))
        columns.subject_marked.append(subject_has_marker(m.subject))
        columns.from_address.append(from_address)
        columns.participants.append(participants_for(item.direction, from_address, reply_to, to, cc))
        sender = m.sender.address if m.sender else None
        columns.addresses.append(_lower_all([from_address, sender, m.ses.envelope_sender], to, cc, reply_to, envelope))
        columns.spf_verdict.append(m.ses.spf_verdict)
        columns.dkim_verdict.append(m.ses.dkim_verdict)
        columns.dmarc_verdict.append(m.ses.dmarc_verdict)
        columns.sent_at.append(_epoch(m.date))
        columns.arrived_at.append(_epoch(arrived))
    return columns
