"""Lake asset for SES events delivered by Firehose."""

import dagster as dg

from pipelines.events.ingest import ingest_events
from pipelines.orchestration.partitions import scoped_tenants
from pipelines.orchestration.resources import ArchiveResource, LakeResource


class EventsConfig(dg.Config):
    full_rebuild: bool = False
    """Forget the processed-file ledger and rebuild every event partition from all files."""


@dg.asset(
    key_prefix="lake",
    group_name="lake",
    kinds={"parquet", "s3"},
    pool="seslake_events",  # the processed-file ledger and the event days are read, changed and rewritten whole
    description="SES sending events from the Firehose files under the events prefix: one row per event × "
    "recipient in lake table `events` (by event date), deduplicated by content fingerprint, attributed to "
    "tenants; bad lines and unattributable events in `quarantine`. Incremental through a processed-file ledger; "
    "a run tagged seslake/tenants=<id> rebuilds just that tenant from every file.",
)
def ses_events(
    context: dg.AssetExecutionContext, config: EventsConfig, archive: ArchiveResource, lake: LakeResource
) -> dg.MaterializeResult:
    target = lake.lake()
    registry = archive.registry()
    tenants = scoped_tenants(context, registry.tenants)
    result = ingest_events(
        archive.store(),
        target,
        registry,
        archive.settings().events_prefix,
        full_rebuild=config.full_rebuild,
        tenants=tenants,
    )
    context.log.info(
        f"{result.files_read} new of {result.files_listed} files: {result.rows_new} new events, "
        f"{result.rows_duplicate} duplicates, {result.lines_bad} bad lines, {result.unattributed} unattributed"
    )
    return dg.MaterializeResult(
        metadata={
            "files_listed": result.files_listed,
            "files_read": result.files_read,
            "new_events": dg.MetadataValue.int(result.rows_new),
            "duplicates_dropped": result.rows_duplicate,
            "bad_lines": result.lines_bad,
            "unattributed": result.unattributed,
            "days_rewritten": len(result.days),
            "events_per_type": dg.MetadataValue.json(dict(sorted(result.per_type.items()))),
            "events_per_tenant": dg.MetadataValue.json(dict(sorted(result.per_tenant.items()))),
            "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
            "lake": dg.MetadataValue.path(target.url),
        }
    )


defs = dg.Definitions(assets=[ses_events])
