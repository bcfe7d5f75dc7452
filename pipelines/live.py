"""The live path: new inbound mail, found through SQS or by watching the prefix, handed to the reply
service parsed, attributed and threaded.

Finding mail (what the sensor calls, cheap and time-bounded):
- `receive_notifications` reads SES `Received` notifications from SQS (SNS-wrapped or raw) without
  deleting them; a malformed one becomes an item carrying its error;
- `discover_objects` lists the inbound prefix from a saved position, a bounded number of keys per
  call, and skips objects the ledger has finished with. SES object keys are not time-ordered, so the
  position wraps around: every key is looked at once per sweep, new ones wherever they fall.

Handing off (what the job runs for a batch), per message, with the batch's own code paths:
fetch, parse and attribute (`ingest.process_object`), write its rows to the lake as part
`live-<batch>` (a later batch run of the same objects replaces them, so the lake holds each message
once), thread it against the lake (`thread_lake.thread_for`), build and sign the payload, record it
`pending` in the ledger (durable), only then delete its SQS message, then POST it with quick retries;
what still fails stays pending for the ledger's later rounds or becomes a dead letter. Bad input —
a malformed notification, a missing object, mail that is not mail, mail no tenant claims, and
virus-infected mail (never handed off) — lands in the lake's quarantine with the reason, and its SQS
message is deleted once that row is written.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from botocore.exceptions import ClientError

from pipelines.delivery import deliver
from pipelines.handoff_ledger import DEAD_LETTER, DELIVERED, HandoffLedger
from pipelines.handoff_payload import build_payload, event_id_for, payload_bytes, reply_from_address
from pipelines.ingest import INBOUND, LIVE_PART_PREFIX, TABLES, ObjectRows, process_object
from pipelines.lake import DAY_COLUMN, Lake, quarantine_row
from pipelines.mime import html_body
from pipelines.notifications import NotificationError, parse_received_notification
from pipelines.objects import ObjectInfo, ObjectStore
from pipelines.signing import parse_secrets
from pipelines.tenants import TenantRegistry
from pipelines.thread_lake import thread_for

log = logging.getLogger(__name__)

SOURCE = "handoff"
"""`quarantine.source` of what the live path refused."""


@dataclass
class InboundItem:
    """One message to hand off: where it is, and the SQS message that announced it (if any)."""

    object_key: str | None
    sqs_message_id: str | None = None
    receipt_handle: str | None = None
    recipients: list[str] = field(default_factory=list)
    """`receipt.recipients` of the notification: the envelope addresses SES accepted it for."""
    verdicts: dict[str, str] = field(default_factory=dict)
    """The notification's verdicts (`spam`, `virus`, `spf`, `dkim`, `dmarc`): SES's word, used before the
    copies SES wrote into the message's headers."""
    error: str | None = None
    """Why the notification could not be used; the item is quarantined, never fetched."""

    def as_config(self) -> dict:
        return asdict(self)


def batch_key(items: list[InboundItem]) -> str:
    """A run key for a batch: the same messages (by SQS message id, else object key) give the same key."""
    names = sorted(item.sqs_message_id or item.object_key or "" for item in items)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:24]


# --------------------------------------------------------------------------------------------
# Finding mail


def receive_notifications(
    sqs: object,
    queue_url: str,
    inbound_prefix: str,
    *,
    max_items: int,
    seconds: float,
    visibility_timeout: int,
) -> list[InboundItem]:
    """Up to `max_items` notifications received within about `seconds` (not deleted: that waits until
    each message's state is durable). They stay invisible to other readers for `visibility_timeout`."""
    items: list[InboundItem] = []
    deadline = time.monotonic() + seconds
    while len(items) < max_items and time.monotonic() < deadline:
        answer = sqs.receive_message(  # type: ignore[attr-defined]
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_items - len(items)),
            VisibilityTimeout=visibility_timeout,
            WaitTimeSeconds=0,
        )
        messages = answer.get("Messages", [])
        if not messages:
            break
        for message in messages:
            items.append(_item_from_sqs(message, inbound_prefix))
    return items


def _item_from_sqs(message: dict, inbound_prefix: str) -> InboundItem:
    ids = {"sqs_message_id": message["MessageId"], "receipt_handle": message["ReceiptHandle"]}
    try:
        notification = parse_received_notification(message.get("Body", ""))
    except NotificationError as exc:
        return InboundItem(object_key=None, error=f"{exc}: {message.get('Body', '')[:300]!r}", **ids)
    key = notification.object_key or f"{inbound_prefix}{notification.ses_message_id}"
    return InboundItem(object_key=key, recipients=notification.recipients, verdicts=notification.verdicts, **ids)


def discover_objects(
    store: ObjectStore,
    prefix: str,
    ledger: HandoffLedger,
    position: str | None,
    *,
    max_keys: int,
    exclude: set[str] = frozenset(),
) -> tuple[list[InboundItem], str | None]:
    """New objects under `prefix` from `position` on (at most `max_keys` listed), and the position
    to continue from (None: the sweep reached the end and starts over)."""
    listed: list[str] = []
    last: str | None = None
    for info in store.list(prefix, start_after=position):
        listed.append(info.key)
        last = info.key
        if len(listed) >= max_keys:
            break
    finished = ledger.finished_objects(listed)
    items = [InboundItem(object_key=key) for key in listed if key not in finished and key not in exclude]
    return items, (last if len(listed) >= max_keys else None)


# --------------------------------------------------------------------------------------------
# Handing off


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
) -> HandoffResult:
    """Hand off one batch (see the module docstring); every item ends delivered, pending for a later
    round, dead-lettered or quarantined, and its SQS message is deleted only after that is recorded."""
    started = time.perf_counter()
    result = HandoffResult(received=len(items))
    rows = ObjectRows()
    parsed = []
    finished: list[InboundItem] = []
    for item in items:
        if item.error is not None or item.object_key is None:
            rows.quarantine.append(_quarantine(item, "notification", "bad_notification", item.error or "no object key"))
            result.quarantined["bad_notification"] += 1
            finished.append(item)
            continue
        info = _info(store, item.object_key)
        if info is None:
            rows.quarantine.append(_quarantine(item, "fetch", "object_missing", f"no object {item.object_key}"))
            result.quarantined["object_missing"] += 1
            finished.append(item)
            continue
        before = len(rows.quarantine)
        outcome = process_object(store, registry, INBOUND, inbound_prefix, info, rows, item.recipients)
        if outcome is None:
            reason = rows.quarantine[before]["reason"]
            rows.quarantine[before]["source"] = SOURCE
            result.quarantined[reason] += 1
            finished.append(item)
            continue
        message, attribution = outcome
        if (item.verdicts.get("virus") or message.ses.virus_verdict or "").upper() == "FAIL":
            _drop_rows_of(rows, info.key)
            rows.quarantine.append(_quarantine(item, "verdict", "virus", "SES virus verdict FAIL: never handed off"))
            result.quarantined["virus"] += 1
            finished.append(item)
            continue
        parsed.append((item, info, message, attribution.tenant_id))

    _write_live_rows(lake, rows, batch)
    _delete_from_queue(sqs, queue_url, finished)
    ledger.finish_objects([item.object_key for item in finished if item.object_key], "quarantined")

    threads = thread_for(lake, [info.key for _, info, _, _ in parsed], _inbound_domains(registry))
    for item, info, message, tenant_id in parsed:
        thread_id, reply = threads.get(info.key, (None, None))
        ses_message_id = info.key.rsplit("/", 1)[-1]
        event_id = event_id_for(tenant_id, ses_message_id)
        known = ledger.get(event_id)
        if known is not None and known.state != "pending":
            result.already_done += 1
        else:
            payload = build_payload(
                message,
                tenant_id=tenant_id,
                ses_message_id=ses_message_id,
                object_key=info.key,
                archive_url=archive_url,
                thread_id=thread_id,
                reply_headers=reply,
                reply_from=reply_from_address(registry.tenants[tenant_id], message),
                received_at=message.ses.received_at or info.last_modified,
                envelope_recipients=item.recipients or None,
                html=html_body(store.get(info.key)) if message.has_html else None,
            )
            ledger.record_pending(event_id, tenant_id=tenant_id, ses_message_id=ses_message_id, object_key=info.key,
                                  thread_id=thread_id, payload=payload_bytes(payload))  # fmt: skip
        _delete_from_queue(sqs, queue_url, [item])
        result.per_tenant[tenant_id] += 1
        if known is None or known.state == "pending":
            state = send(ledger, event_id, target)
            result.delivered += state == DELIVERED
            result.dead_lettered += state == DEAD_LETTER
            result.pending += state not in (DELIVERED, DEAD_LETTER)
    result.seconds = time.perf_counter() - started
    return result


def send(ledger: HandoffLedger, event_id: str, target: HandoffTarget) -> str:
    """POST a recorded payload with quick retries and record the outcome; returns the new state."""
    record = ledger.get(event_id)
    delivery = deliver(
        target.url, record.payload, event_id, target.secrets,
        max_attempts=target.max_attempts, max_seconds=target.max_seconds, timeout=target.timeout,
    )  # fmt: skip
    error = delivery.last_error or f"HTTP {delivery.last_status}"
    if delivery.outcome == "delivered":
        return ledger.mark_delivered(event_id, attempts=len(delivery.attempts), status=delivery.last_status).state
    if delivery.outcome == "permanent":
        return ledger.mark_dead_letter(event_id, error=error, status=delivery.last_status,
                                       attempts=len(delivery.attempts)).state  # fmt: skip
    return ledger.mark_attempt_failed(event_id, error=error, status=delivery.last_status,
                                      attempts=len(delivery.attempts)).state  # fmt: skip


def retry_due(ledger: HandoffLedger, target: HandoffTarget, limit: int = 200) -> Counter:
    """Send the pending records whose next round is due; counts of the states they end in. The records
    are leased while this run sends them, so a run started meanwhile does not send them too."""
    outcomes: Counter = Counter()
    lease = timedelta(seconds=target.max_seconds * 2 + target.timeout)
    for record in ledger.due(limit=limit, lease=lease):
        outcomes[send(ledger, record.event_id, target)] += 1
    return outcomes


def secrets_from(value: str) -> list[str]:
    secrets = parse_secrets(value)
    if not secrets:
        raise ValueError("SESLAKE_REPLY_SECRET is not set: the hand-off refuses to send unsigned payloads")
    return secrets


def _inbound_domains(registry: TenantRegistry) -> list[str]:
    return sorted({a.rpartition("@")[2] for t in registry.tenants.values() for a in t.inbound_addresses})


def _info(store: ObjectStore, key: str) -> ObjectInfo | None:
    """The object's listing entry, or None when it does not exist."""
    for info in store.list(key):
        if info.key == key:
            return info
    return None


def _quarantine(item: InboundItem, stage: str, reason: str, error: str) -> dict:
    now = datetime.now(UTC)
    key = item.object_key or f"sqs:{item.sqs_message_id}"
    return quarantine_row(SOURCE, ObjectInfo(key, 0, now), stage, reason, error)


def _drop_rows_of(rows: ObjectRows, object_key: str) -> None:
    for name in ("messages", "recipients", "attachments"):
        setattr(rows, name, [row for row in getattr(rows, name) if row["object_key"] != object_key])


def _write_live_rows(lake: Lake, rows: ObjectRows, batch: str) -> None:
    """The batch's rows as part `live-<batch>` of each table (days they fall on), leaving out messages
    the lake already holds (a notification delivered again after the batch ingest took the object)."""
    part = f"{LIVE_PART_PREFIX}{batch}"
    held = set(lake.read_table("messages", columns=["object_key"])["object_key"].to_pylist())
    for name, table in rows.tables().items():
        key = "source_key" if name == "quarantine" else "object_key"
        table = table.filter(pc.invert(pc.is_in(table[key], pa.array(sorted(held), pa.string()))))
        if name in TABLES and table.num_rows:
            days = set(table.column(DAY_COLUMN).to_pylist())
            lake.replace_partitions(name, part, days, table, day_column=DAY_COLUMN)


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
