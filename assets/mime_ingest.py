"""Lake assets for raw MIME: inbound mail stored by SES and outbound mail archived by the reply service."""

import dagster as dg

from pipelines.mail.ingest import IngestResult, ingest_mime
from pipelines.mail.sandbox import ParseGuard
from pipelines.orchestration.partitions import daily_partitions, partition_days, scoped_tenants
from pipelines.orchestration.resources import ArchiveResource, LakeResource
from pipelines.storage.schemas import INBOUND, OUTBOUND

LAKE_TABLES = "messages, recipients, attachments, quarantine"


class MailIngestConfig(dg.Config):
    relist: bool = False
    """List the whole prefix and rewrite the arrivals index from it (repairs a damaged or doubtful index)."""


def ingest_metadata(result: IngestResult, lake_url: str) -> dict[str, dg.MetadataValue | int | float | str]:
    """What an operator wants to see on a materialization: counts, sizes, per-tenant rows, and a preview of
    ids and sizes only (metadata is visible to every operator: no subjects or addresses)."""
    parquet_bytes = sum(w.bytes for w in result.written)
    rate = result.objects / result.seconds if result.seconds else 0.0
    return {
        "objects": result.objects,
        "messages": dg.MetadataValue.int(result.messages),
        "quarantined": dg.MetadataValue.int(result.quarantined),
        "dagster/row_count": dg.MetadataValue.int(result.messages),
        "source_mb": dg.MetadataValue.float(round(result.bytes_read / 1e6, 2)),
        "parquet_files": len(result.written),
        "parquet_mb": dg.MetadataValue.float(round(parquet_bytes / 1e6, 3)),
        "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
        "objects_per_second": dg.MetadataValue.float(round(rate, 1)),
        "days": f"{result.days[0]} … {result.days[-1]}" if result.days else "none",
        "days_found_by": dg.MetadataValue.json(dict(sorted(result.found_by.items()))),
        "messages_per_tenant": dg.MetadataValue.json(dict(sorted(result.per_tenant.items()))),
        "quarantine_reasons": dg.MetadataValue.json(dict(sorted(result.quarantine_reasons.items()))),
        "parsers": dg.MetadataValue.json(dict(sorted(result.parsers.items()))),
        "parse_warnings": dg.MetadataValue.json(dict(result.warnings.most_common(20))),
        "lake": dg.MetadataValue.path(lake_url),
        "preview": dg.MetadataValue.md(_markdown_table(result.preview)),
    }


def _markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "_no messages_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [str(row[c] if row[c] is not None else "").replace("|", "\\|")[:60] for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ingest(
    context: dg.AssetExecutionContext,
    config: MailIngestConfig,
    archive: ArchiveResource,
    lake: LakeResource,
    direction: str,
    prefix: str,
) -> dg.MaterializeResult:
    days, include_earlier = partition_days(context)
    target = lake.lake()
    registry = archive.registry()
    tenants = scoped_tenants(context, registry.tenants)
    result = ingest_mime(
        archive.store(),
        target,
        registry,
        direction,
        prefix,
        days,
        include_earlier=include_earlier,
        tenants=tenants,
        guard=ParseGuard.from_settings(archive.settings()),
        relist=config.relist,
    )
    scope = f" for tenants {', '.join(sorted(tenants))}" if tenants else ""
    context.log.info(
        f"{direction}{scope}: {result.objects} objects → {result.messages} messages, {result.quarantined} "
        f"quarantined in {result.seconds:.1f}s"
    )
    return dg.MaterializeResult(metadata=ingest_metadata(result, target.url))


_common = dict(
    key_prefix="lake",
    group_name="lake",
    partitions_def=daily_partitions,
    # a backfill is one run per day, queued and run side by side (a day writes only its own files); one run over
    # a range of days is a run tagged with the range (README: "Running partitions concurrently")
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    kinds={"parquet", "s3"},
)


@dg.asset(
    **_common,
    description=f"Inbound mail stored by SES under the inbound prefix, parsed and attributed to tenants: "
    f"the 'inbound' files of the lake tables {LAKE_TABLES}, by day of arrival.",
)
def inbound_mail(
    context: dg.AssetExecutionContext, config: MailIngestConfig, archive: ArchiveResource, lake: LakeResource
) -> dg.MaterializeResult:
    return _ingest(context, config, archive, lake, INBOUND, archive.settings().inbound_prefix)


@dg.asset(
    **_common,
    description=f"Agents' replies archived by the reply service under the outbound prefix: the 'outbound' files "
    f"of the lake tables {LAKE_TABLES}, by day of sending.",
)
def outbound_mail(
    context: dg.AssetExecutionContext, config: MailIngestConfig, archive: ArchiveResource, lake: LakeResource
) -> dg.MaterializeResult:
    return _ingest(context, config, archive, lake, OUTBOUND, archive.settings().outbound_prefix)


defs = dg.Definitions(assets=[inbound_mail, outbound_mail])
