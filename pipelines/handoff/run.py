"""Handing a batch of new inbound mail to the reply service (what the hand-off run does).

Per message, with the batch's own code paths: fetch, parse and attribute (`mail.process.process_object`),
write its rows to the lake as part `live-<batch>` (a later batch run of the same objects replaces them,
so the lake holds each message once), thread it against the lake (`threads.lake.thread_for`), build and
sign the payload, record it `pending` in the ledger (durable), only then delete its SQS message, then
POST it with quick retries; what still fails stays pending for the ledger's later rounds or becomes a
dead letter. Bad input — a malformed notification, a missing object, mail that is not mail, mail no
tenant claims, and virus-infected mail (never handed off) — lands in the lake's quarantine with the
reason, and its SQS message is deleted once that row is written.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from botocore.exceptions import ClientError

from pipelines.handoff.delivery import deliver, record_outcome
from pipelines.handoff.discovery import InboundItem
from pipelines.handoff.ledger import DEAD_LETTER, DELIVERED, HandoffLedger
from pipelines.handoff.payload import build_payload, event_id_for, payload_bytes, reply_from_address
from pipelines.handoff.signing import parse_secrets
from pipelines.mail.process import process_object
from pipelines.mail.rows import TABLES, ObjectRows
from pipelines.mime.parse import html_body
from pipelines.storage.lake import Lake
from pipelines.storage.objects import ObjectInfo, ObjectStore
from pipelines.storage.schemas import DAY_COLUMN, INBOUND, LIVE_PART_PREFIX, quarantine_row
from pipelines.tenants import TenantRegistry
from pipelines.threads.lake import thread_for

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

    threads = thread_for(lake, [info.key for _, info, _, _ in parsed], sorted(registry.inbound_domains))
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
    return record_outcome(ledger, event_id, delivery).state


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
