"""The live path in Dagster: a sensor finds new inbound mail, a job hands each batch to the reply service.

The work itself is in `pipelines.live`; this is wiring. Each run of `handoff_inbound` materializes
`live/inbound_handoff` (one batch) and runs the `no_dead_letters` check over the whole ledger.
"""

import json
import time

import dagster as dg

from pipelines.live import (
    HandoffTarget,
    InboundItem,
    batch_key,
    discover_objects,
    hand_off,
    receive_notifications,
    secrets_from,
)
from pipelines.live import retry_due as send_due_retries
from pipelines.resources import ArchiveResource, HandoffResource, LakeResource

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


class Item(dg.Config):
    object_key: str | None = None
    sqs_message_id: str | None = None
    receipt_handle: str | None = None
    recipients: list[str] = []
    verdicts: dict[str, str] = {}
    error: str | None = None


class HandoffConfig(dg.Config):
    items: list[Item] = []
    """The batch; empty for a run that only sends the ledger's due retries."""
    retry_due: bool = True
    """Also send pending records whose next retry round is due."""


@dg.asset(
    key_prefix="live",
    group_name="live",
    kinds={"sqs", "s3"},
    description="One batch of new inbound mail handed to the reply service: fetched, parsed, attributed, "
    "written to the lake (part live-<batch>), threaded, signed, recorded in the hand-off ledger, POSTed.",
)
def inbound_handoff(
    context: dg.AssetExecutionContext,
    config: HandoffConfig,
    archive: ArchiveResource,
    lake: LakeResource,
    handoff: HandoffResource,
) -> dg.MaterializeResult:
    target = HandoffTarget(url=handoff.reply_url, secrets=secrets_from(handoff.reply_secret))
    items = [InboundItem(**item.model_dump()) for item in config.items]
    with handoff.ledger() as ledger:
        result = hand_off(
            items,
            batch=batch_key(items) if items else f"retry-{int(time.time())}",
            store=archive.store(),
            inbound_prefix=archive.inbound_prefix,
            lake=lake.lake(),
            registry=archive.registry(),
            ledger=ledger,
            target=target,
            archive_url=archive.source,
            sqs=handoff.sqs() if handoff.queue_url else None,
            queue_url=handoff.queue_url or None,
        )
        retried = send_due_retries(ledger, target) if config.retry_due else {}
        states = ledger.counts()
    context.log.info(
        f"{result.received} messages: {result.delivered} delivered, {result.pending} pending, "
        f"{result.dead_lettered} dead-lettered, {sum(result.quarantined.values())} quarantined; "
        f"retries sent: {dict(retried)}"
    )
    return dg.MaterializeResult(
        metadata={
            "received": result.received,
            "delivered": result.delivered,
            "pending": result.pending,
            "dead_lettered": result.dead_lettered,
            "already_handed_off": result.already_done,
            "quarantined": dg.MetadataValue.json(dict(result.quarantined)),
            "per_tenant": dg.MetadataValue.json(dict(result.per_tenant)),
            "retries_sent": dg.MetadataValue.json(dict(retried)),
            "ledger_states": dg.MetadataValue.json(states),
            "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        }
    )


@dg.asset_check(asset=inbound_handoff, description="Fails while the hand-off ledger holds dead letters.")
def no_dead_letters(handoff: HandoffResource) -> dg.AssetCheckResult:
    with handoff.ledger() as ledger:
        by_tenant = ledger.counts_by_tenant()
    dead = {tenant: counts.get("dead_letter", 0) for tenant, counts in by_tenant.items() if counts.get("dead_letter")}
    return dg.AssetCheckResult(
        passed=not dead,
        metadata={
            "dead_letters": sum(dead.values()),
            "per_tenant": dg.MetadataValue.json(dead),
            "replay": "seslake replay --all (or --tenant T, --event-id E)",
        },  # fmt: skip
    )


handoff_inbound = dg.define_asset_job(
    "handoff_inbound",
    selection=dg.AssetSelection.assets(inbound_handoff) | dg.AssetSelection.checks_for_assets(inbound_handoff),
    description="Hand a batch of new inbound mail to the reply service (launched by inbound_mail_sensor).",
    executor_def=dg.in_process_executor,  # one process per run: no step subprocesses to start (latency)
)


def _run_request(items: list[InboundItem]) -> dg.RunRequest:
    config = {"items": [item.as_config() for item in items]}
    return dg.RunRequest(
        run_key=f"handoff-{batch_key(items)}",
        run_config={"ops": {"live__inbound_handoff": {"config": config}}},
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
    if handoff.queue_url:
        items = receive_notifications(
            handoff.sqs(), handoff.queue_url, archive.inbound_prefix,
            max_items=MAX_PER_TICK, seconds=TICK_SECONDS, visibility_timeout=VISIBILITY_TIMEOUT,
        )  # fmt: skip
    else:
        now = time.time()
        requested = {key: at for key, at in cursor.get("requested", {}).items() if now - at < REQUEST_TTL}
        with handoff.ledger() as ledger:
            items, position = discover_objects(
                archive.store(), archive.inbound_prefix, ledger, cursor.get("position"),
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
        runs.append(dg.RunRequest(run_key=f"retry-{minute}", run_config={"ops": {"live__inbound_handoff": {
            "config": {"items": [], "retry_due": True}}}}))  # fmt: skip
    if not runs:
        return dg.SensorResult(skip_reason="no new inbound mail", cursor=json.dumps(cursor))
    return dg.SensorResult(run_requests=runs, cursor=json.dumps(cursor))


defs = dg.Definitions(
    assets=[inbound_handoff], asset_checks=[no_dead_letters], jobs=[handoff_inbound], sensors=[inbound_mail_sensor]
)
