"""Handing a batch of new inbound mail to the reply service (what the hand-off run does).

Per message, with the batch's own code paths: look the object up by key and note it in the arrivals index
(`mail.selection.record_arrivals`, so the next ingest of its day finds it without listing the bucket), fetch,
parse and attribute (`mail.process.process_object`),
write its rows to the lake as part `live-<batch>` (a later batch run of the same objects replaces them,
so the lake holds each message once), thread it against the lake (`threads.lake.thread_for`), build and
sign the payload, record it `pending` in the ledger (durable), only then delete its SQS message, then
claim it in the ledger (`HandoffLedger.claim`: a lease, so when SQS hands the same message to two workers
only one sends it) and POST it with quick retries; what still fails stays pending for the ledger's later
rounds or becomes a dead letter. Bad input — a malformed notification, a missing object, mail that is not mail, mail no
tenant claims, and virus-infected mail (never handed off) — lands in the lake's quarantine with the
reason, and its SQS message is deleted once that row is written.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from botocore.exceptions import ClientError

from pipelines.handoff.delivery import deliver, record_outcome
from pipelines.handoff.discovery import InboundItem
from pipelines.handoff.ledger import DEAD_LETTER, DELIVERED, PENDING, HandoffLedger
from pipelines.handoff.payload import build_payload, event_id_for, payload_bytes, reply_from_address
from pipelines.handoff.signing import parse_secrets
from pipelines.mail.rows import ObjectRows
from pipelines.mail.sandbox import ParseGuard, objects_to_outcomes, warm_up
from pipelines.mail.selection import record_arrivals
from pipelines.mime.message import ParsedMessage
from pipelines.storage.lake import Lake
from pipelines.storage.objects import ObjectInfo, ObjectStore
from pipelines.storage.schemas import DAY_COLUMN, INBOUND, LIVE_PART_PREFIX, quarantine_row
from pipelines.tenants import Tenant, TenantRegistry
from pipelines.threads.lake import thread_for
from pipelines.threads.reply import ReplyHeaders
from pipelines.threads.tracking import tracking_address, verify_tracking_address

log = logging.getLogger(__name__)

SOURCE = "handoff"
"""`quarantine.source` of what the live path refused."""


@dataclass
class HandoffTarget:
    """Where and how to deliver: the reply service, its secrets and the retry budget of one run."""

    url: str
    secrets: list[str]
    max_attempts: int = 4
    max_seconds: float = 20.0
    timeout: float = 10.0


@dataclass
class HandoffResult:
    received: int = 0
    delivered: int = 0
    pending: int = 0
    dead_lettered: int = 0
    already_done: int = 0
    quarantined: Counter = field(default_factory=Counter)
    per_tenant: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def hand_off(
    items: list[InboundItem],
    *,
    batch: str,
    store: ObjectStore,
    inbound_prefix: str,
    lake: Lake,
    registry: TenantRegistry,
    ledger: HandoffLedger,
    target: HandoffTarget,
    archive_url: str,
    sqs: object | None = None,
    queue_url: str | None = None,
    tracking_secret: str = "",
    guard: ParseGuard | None = None,
    thread_state: str | None = None,
) -> HandoffResult:
    """Hand off one batch (see the module docstring); every item ends delivered, pending for a later
    round, dead-lettered or quarantined, and its SQS message is deleted only after that is recorded.

    Whatever one message does (a notification naming an object outside the inbound prefix, bytes that are
    not mail, a payload that cannot be built, any error while taking it), it is quarantined with its
    reason and the rest of the batch goes on; messages are parsed in guarded worker processes
    (`pipelines.mail.sandbox`, budgets from `guard`, else the settings). Failures of the ledger, the
    lake or SQS themselves are not the message's fault: they fail the run, and the SQS messages not yet
    recorded come back."""
    started = time.perf_counter()
    result = HandoffResult(received=len(items))
    rows = ObjectRows()
    taken: list[_Taken] = []
    refused: list[tuple[InboundItem, str]] = []

    def refuse(item: InboundItem, info: ObjectInfo | None, stage: str, reason: str, error: str) -> None:
        rows.quarantine.append(quarantine_row(SOURCE, info or _placeholder(item), stage, reason, error))
        result.quarantined[reason] += 1
        refused.append((item, reason))

    warm_up()  # the parsing workers' server starts while the notifications are checked
    located: list[tuple[InboundItem, ObjectInfo]] = []
    for item in items:
        try:
            found = _locate(item, store, inbound_prefix)
        except Exception as exc:  # noqa: BLE001 - one message must not stop the batch
            found = _Refusal(None, "handoff", "handoff_error", _error_text(exc))
        if isinstance(found, _Refusal):
            refuse(item, found.info, found.stage, found.reason, found.error)
        else:
            located.append((item, found))

    record_arrivals(lake, INBOUND, [info for _, info in located])  # the next ingest of their day finds them here
    outcomes = objects_to_outcomes(
        store, registry, inbound_prefix, [(info, item.recipients) for item, info in located], guard=guard
    )
    for (item, info), outcome in zip(located, outcomes, strict=True):
        if outcome.message is None or outcome.attribution is None:  # quarantined: not mail, unattributed, …
            for row in outcome.rows.quarantine:
                rows.quarantine.append({**row, "source": SOURCE})
                result.quarantined[row["reason"]] += 1
                refused.append((item, row["reason"]))
        elif (item.verdicts.get("virus") or outcome.message.ses.virus_verdict or "").upper() == "FAIL":
            refuse(item, info, "verdict", "virus", "SES virus verdict FAIL: never handed off")
        else:
            rows.extend(outcome.rows)
            taken.append(_Taken(item, info, outcome.message, outcome.attribution.tenant_id))

    _write_live_rows(lake, rows, batch)
    _record_refused(ledger, refused)
    _delete_from_queue(sqs, queue_url, [item for item, _ in refused])

    threads = thread_for(
        lake,
        [t.info.key for t in taken],
        sorted(registry.inbound_domains),
        tracking_secret=tracking_secret,
        days={t.info.day for t in taken},  # their rows are in their arrival days' partitions: nothing else is read
        state_path=thread_state,
    )
    unbuildable = ObjectRows()
    for t in taken:
        thread_id, reply = threads.get(t.info.key, (None, None))
        ses_message_id = t.info.key.rsplit("/", 1)[-1]
        event_id = event_id_for(t.tenant_id, ses_message_id)
        known = ledger.get(event_id)
        if known is not None and known.state != PENDING:
            result.already_done += 1
        else:
            try:
                payload = payload_bytes(_payload(t, registry, archive_url, thread_id, reply, store, tracking_secret))
            except Exception as exc:  # noqa: BLE001 - a message whose payload cannot be built is quarantined
                unbuildable.quarantine.append(
                    quarantine_row(SOURCE, t.info, "payload", "payload_unbuildable", _error_text(exc))
                )
                result.quarantined["payload_unbuildable"] += 1
                _record_refused(ledger, [(t.item, "payload_unbuildable")])
                _write_live_rows(lake, unbuildable, f"{batch}-refused", skip_held=False)
                _delete_from_queue(sqs, queue_url, [t.item])
                continue
            ledger.record_pending(event_id, tenant_id=t.tenant_id, ses_message_id=ses_message_id,
                                  object_key=t.info.key, thread_id=thread_id, payload=payload)  # fmt: skip
        _delete_from_queue(sqs, queue_url, [t.item])
        result.per_tenant[t.tenant_id] += 1
        if known is None or known.state == PENDING:
            if not ledger.claim(event_id, send_lease(target)):  # another worker is sending it, or it waits
                result.pending += 1  # for its next round: `retry_due` sends it then
                continue
            state = send(ledger, event_id, target)
            result.delivered += state == DELIVERED
            result.dead_lettered += state == DEAD_LETTER
            result.pending += state not in (DELIVERED, DEAD_LETTER)
    result.seconds = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class _Taken:
    """A message accepted for hand-off: parsed, attributed, clean of viruses."""

    item: InboundItem
    info: ObjectInfo
    message: ParsedMessage
    tenant_id: str


@dataclass(frozen=True)
class _Refusal:
    info: ObjectInfo | None
    stage: str
    reason: str
    error: str


def _locate(item: InboundItem, store: ObjectStore, inbound_prefix: str) -> ObjectInfo | _Refusal:
    """The object a notification names, or why it will not be fetched: a malformed notification, an object
    outside the inbound prefix of the archive, or one that does not exist."""
    if item.error is not None or item.object_key is None:
        return _Refusal(None, "notification", "bad_notification", item.error or "no object key")
    foreign = foreign_object(item, store.url, inbound_prefix)
    if foreign is not None:
        return _Refusal(None, "notification", "foreign_object", foreign)
    info = store.info(item.object_key)
    if info is None:
        return _Refusal(None, "fetch", "object_missing", f"no object {item.object_key}")
    return info


def foreign_object(item: InboundItem, archive_url: str, inbound_prefix: str) -> str | None:
    """Why a notification's object must not be fetched, or None. A notification is trusted only for an object
    under the inbound prefix of the configured archive: one naming another bucket, or a key elsewhere (another
    tenant's `outbound/…` archive, `..` segments), would otherwise be fetched and handed off as inbound mail."""
    key = item.object_key or ""
    relative = key[len(inbound_prefix) :] if key.startswith(inbound_prefix) else None
    if relative is None or any(part in ("", ".", "..") for part in relative.split("/")):
        return f"object key {key[:300]!r} is not an object under the inbound prefix {inbound_prefix!r}"
    if item.bucket is not None and archive_url.startswith("s3://"):
        archive_bucket = archive_url.removeprefix("s3://").partition("/")[0]
        if item.bucket != archive_bucket:
            return f"bucket {item.bucket[:100]!r} is not the archive's bucket {archive_bucket!r}"
    return None


def _payload(
    taken: _Taken,
    registry: TenantRegistry,
    archive_url: str,
    thread_id: str | None,
    reply: ReplyHeaders | None,
    store: ObjectStore,
    tracking_secret: str,
) -> dict:
    message, info = taken.message, taken.info
    tenant = registry.tenants[taken.tenant_id]
    return build_payload(
        message,
        tenant_id=taken.tenant_id,
        ses_message_id=info.key.rsplit("/", 1)[-1],
        object_key=info.key,
        archive_url=archive_url,
        thread_id=thread_id,
        reply_headers=reply,
        reply_from=reply_from_address(tenant, message),
        received_at=message.ses.received_at or info.last_modified,
        envelope_recipients=taken.item.recipients or None,
        case_address=case_address(tenant, thread_id, tracking_secret),
        case_id=verified_case(taken.item.recipients or message.ses.envelope_recipients, tenant.id, tracking_secret),
    )


def case_address(tenant: Tenant, thread_id: str | None, secret: str) -> str | None:
    """The tracking address of the message's thread on the tenant's first inbound address: what the answer
    sets as Reply-To, so the customer's next mail joins the case."""
    if thread_id is None or not tenant.inbound_addresses:
        return None
    return tracking_address(tenant.id, thread_id, tenant.inbound_addresses[0], secret=secret)


def verified_case(recipients: Sequence[str], tenant_id: str, secret: str) -> str | None:
    """The case a verified tracking address among the recipients names, if any."""
    return next((case for r in recipients if (case := verify_tracking_address(r, tenant_id, secret=secret))), None)


def _record_refused(ledger: HandoffLedger, refused: list[tuple[InboundItem, str]]) -> None:
    """Note the refused objects in the ledger (`quarantined: <reason>`), so watching the prefix does not
    pick them up again."""
    by_reason: dict[str, list[str]] = {}
    for item, reason in refused:
        if item.object_key:
            by_reason.setdefault(reason, []).append(item.object_key)
    for reason, keys in by_reason.items():
        ledger.finish_objects(keys, f"quarantined: {reason}")


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()


def send(ledger: HandoffLedger, event_id: str, target: HandoffTarget) -> str:
    """POST a recorded payload with quick retries and record the outcome; returns the new state."""
    record = ledger.get(event_id)
    delivery = deliver(
        target.url, record.payload, event_id, target.secrets,
        max_attempts=target.max_attempts, max_seconds=target.max_seconds, timeout=target.timeout,
    )  # fmt: skip
    return record_outcome(ledger, event_id, delivery).state


def send_lease(target: HandoffTarget) -> timedelta:
    """How long a worker holds a record it sends: past its quick retries and the last request's timeout."""
    return timedelta(seconds=target.max_seconds * 2 + target.timeout)


def retry_due(ledger: HandoffLedger, target: HandoffTarget, limit: int = 200) -> Counter:
    """Send the pending records whose next round is due; counts of the states they end in. The records
    are leased while this run sends them, so a run started meanwhile does not send them too."""
    outcomes: Counter = Counter()
    for record in ledger.due(limit=limit, lease=send_lease(target)):
        outcomes[send(ledger, record.event_id, target)] += 1
    return outcomes


def secrets_from(value: str) -> list[str]:
    secrets = parse_secrets(value)
    if not secrets:
        raise ValueError("SESLAKE_REPLY_SECRET is not set: the hand-off refuses to send unsigned payloads")
    return secrets


def _placeholder(item: InboundItem) -> ObjectInfo:
    """What stands for an object the live path never read: the notification's key (or its SQS id), now."""
    return ObjectInfo(item.object_key or f"sqs:{item.sqs_message_id}", 0, datetime.now(UTC))


def _write_live_rows(lake: Lake, rows: ObjectRows, batch: str, *, skip_held: bool = True) -> None:
    """The batch's rows as part `live-<batch>` of each table (days they fall on). With `skip_held`, objects
    the lake already holds on their day — in `messages` or in `quarantine` — are left out: a notification
    delivered again after the batch ingest took the object adds nothing, so each object is recorded once."""
    part = f"{LIVE_PART_PREFIX}{batch}"
    tables = rows.tables()
    days = {day for table in tables.values() for day in table.column(DAY_COLUMN).to_pylist()}
    held = lake.object_keys(days) if skip_held and days else set()
    for name, table in tables.items():
        key = "source_key" if name == "quarantine" else "object_key"
        if held:
            table = table.filter(pc.invert(pc.is_in(table[key], pa.array(sorted(held), pa.string()))))
        if table.num_rows:
            lake.replace_partitions(name, part, set(table.column(DAY_COLUMN).to_pylist()), table, day_column=DAY_COLUMN)


def _delete_from_queue(sqs: object | None, queue_url: str | None, items: list[InboundItem]) -> None:
    """Delete the SQS messages of items whose state is recorded. A receipt handle that expired (the run
    waited longer than the visibility timeout) is left alone: the message comes back, and the ledger
    or the quarantine already knows it, so it is only deleted then."""
    if sqs is None or not queue_url:
        return
    for item in items:
        if item.receipt_handle:
            try:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=item.receipt_handle)  # type: ignore[attr-defined]
            except ClientError as exc:
                log.warning("SQS message %s not deleted (it will come back): %s", item.sqs_message_id, exc)
