"""The live sensor: new inbound mail -> runs of `handoff_inbound`, a batch each, with run keys from the batch."""

from __future__ import annotations

import json
import time

import dagster as dg

from pipelines.handoff.discovery import InboundItem, batch_key, discover_objects, receive_notifications
from pipelines.orchestration.jobs import HANDOFF_OP, handoff_inbound
from pipelines.orchestration.resources import ArchiveResource, HandoffResource

BATCH_SIZE = 50
"""Messages per run: small enough for seconds of latency, large enough to amortize a run's start."""
MAX_PER_TICK = 1000
"""Messages one sensor tick takes at most; a bigger backlog drains over the next ticks."""
TICK_SECONDS = 15.0
"""Time a tick spends receiving or listing, well inside Dagster's 60 s sensor timeout."""
VISIBILITY_TIMEOUT = 900
"""Seconds a received notification stays hidden from other readers while its run works on it."""
REQUEST_TTL = 600
"""Seconds a key found by watching the prefix is not requested again while its run is queued or running."""


def handoff_run_config(items: list[InboundItem], retry_due: bool = True) -> dict:
    """The run config of a `handoff_inbound` run for a batch (empty: only send the ledger's due retries)."""
    config = {"items": [item.as_config() for item in items], "retry_due": retry_due}
    return {"ops": {HANDOFF_OP: {"config": config}}}


def _run_request(items: list[InboundItem]) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"handoff-{batch_key(items)}",
        run_config=handoff_run_config(items),
        tags={"seslake/messages": str(len(items))},
    )


@dg.sensor(job=handoff_inbound, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.STOPPED)
def inbound_mail_sensor(
    context: dg.SensorEvaluationContext, archive: ArchiveResource, handoff: HandoffResource
) -> dg.SensorResult:
    """New inbound mail → runs of `handoff_inbound`, BATCH_SIZE messages each, run keys from the batch.

    With SESLAKE_INBOUND_QUEUE_URL it reads the SQS queue of SES notifications (deleting nothing: a
    message leaves the queue once the run has made its state durable). Without one it watches the
    inbound prefix; the cursor holds where the listing goes on from and the keys requested recently."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    settings = handoff.settings()
    inbound_prefix = archive.settings().inbound_prefix
    if settings.inbound_queue_url:
        items = receive_notifications(
            handoff.sqs(), settings.inbound_queue_url, inbound_prefix,
            max_items=MAX_PER_TICK, seconds=TICK_SECONDS, visibility_timeout=VISIBILITY_TIMEOUT,
        )  # fmt: skip
    else:
        now = time.time()
        requested = {key: at for key, at in cursor.get("requested", {}).items() if now - at < REQUEST_TTL}
        with handoff.ledger() as ledger:
            items, position = discover_objects(
                archive.store(), inbound_prefix, ledger, cursor.get("position"),
                max_keys=20 * MAX_PER_TICK, exclude=set(requested),
            )  # fmt: skip
        if len(items) > MAX_PER_TICK:  # the rest is listed again from here next tick
            items, position = items[:MAX_PER_TICK], items[MAX_PER_TICK - 1].object_key
        requested.update({item.object_key: now for item in items})
        cursor = {"position": position, "requested": requested}
    runs = [_run_request(items[i : i + BATCH_SIZE]) for i in range(0, len(items), BATCH_SIZE)]
    with handoff.ledger() as ledger:
        due = ledger.due(limit=1)
    if due and not runs:
        minute = int(time.time() // 60)
        runs.append(dg.RunRequest(run_key=f"retry-{minute}", run_config=handoff_run_config([])))
    if not runs:
        return dg.SensorResult(skip_reason="no new inbound mail", cursor=json.dumps(cursor))
    return dg.SensorResult(run_requests=runs, cursor=json.dumps(cursor))
