"""The live path's asset: one batch of new inbound mail handed to the reply service, and its check.

The work is in `pipelines.handoff.run`; `inbound_mail_sensor` (pipelines.orchestration.sensors) launches
a `handoff_inbound` run per batch. Each run materializes `live/inbound_handoff` and runs the
`no_dead_letters` check over the whole ledger.
"""

import time

import dagster as dg

from pipelines.handoff.discovery import InboundItem, batch_key
from pipelines.handoff.run import HandoffTarget, hand_off, retry_due, secrets_from
from pipelines.mail.sandbox import ParseGuard
from pipelines.orchestration.resources import ArchiveResource, HandoffResource, LakeResource


class Item(dg.Config):
    object_key: str | None = None
    bucket: str | None = None
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
    settings = handoff.settings()
    target = HandoffTarget(url=settings.reply_url, secrets=secrets_from(settings.reply_secret))
    items = [InboundItem(**item.model_dump()) for item in config.items]
    with handoff.ledger() as ledger:
        result = hand_off(
            items,
            batch=batch_key(items) if items else f"retry-{int(time.time())}",
            store=archive.store(),
            inbound_prefix=archive.settings().inbound_prefix,
            lake=lake.lake(),
            registry=archive.registry(),
            ledger=ledger,
            target=target,
            archive_url=archive.settings().source,
            sqs=handoff.sqs() if settings.inbound_queue_url else None,
            queue_url=settings.inbound_queue_url or None,
            tracking_secret=settings.tracking_secret,
            guard=ParseGuard.from_settings(settings),
            thread_state=settings.thread_state or None,
        )
        retried = retry_due(ledger, target) if config.retry_due else {}
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
        },
    )


defs = dg.Definitions(assets=[inbound_handoff], asset_checks=[no_dead_letters])
