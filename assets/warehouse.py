"""The DuckDB reporting warehouse: every `sql/` model its own asset (lineage from the model's reads, column schema
and description from the model file), built in one step, audited, then published.

The step refreshes the warehouse for what changed in the lake (or rebuilds it whole) in a fresh file, runs the
audits on that file (`pipelines.warehouse.audits`, each an asset check on its model), and renames it over the
published one only when every blocking audit passed; otherwise the step fails, saying which audit failed, and
analysts keep the previous warehouse.
"""

from pathlib import Path

import dagster as dg
import duckdb

from pipelines.orchestration.resources import ArchiveResource, LakeResource, WarehouseResource
from pipelines.warehouse.audits import AUDITS, AuditFailed, AuditResult
from pipelines.warehouse.build import WarehouseBuild
from pipelines.warehouse.models import Model, load_models, model_order
from pipelines.warehouse.refresh import refresh_warehouse
from pipelines.warehouse.schema import model_column_types

from .events import ses_events
from .mime_ingest import inbound_mail, outbound_mail
from .threads import message_threads

MODELS = model_order(load_models())
LAKE_ASSETS = {
    "messages": [inbound_mail, outbound_mail],
    "recipients": [inbound_mail, outbound_mail],
    "attachments": [inbound_mail, outbound_mail],
    "quarantine": [inbound_mail, outbound_mail, ses_events],
    "events": [ses_events],
    "message_threads": [message_threads],
    "thread_renames": [message_threads],
}
"""Lake table → the assets that write it: the lineage of the staging models that read it."""
SUMMARY_FIGURES = ("delivered_rate", "bounce_rate_30d", "complaint_rate_30d", "unique_human_open_rate_of_delivered")
"""tenant_summary columns recorded as numeric metadata per tenant, so the UI plots them over time."""


class WarehouseConfig(dg.Config):
    full_rebuild: bool = False
    """Rebuild every table from the whole lake instead of refreshing the days that changed (the same tables
    come out)."""


def model_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", name])


def _spec(model: Model, types: dict[str, list[tuple[str, str]]]) -> dg.AssetSpec:
    typed = dict(types.get(model.name, []))
    schema = dg.TableSchema(
        columns=[dg.TableColumn(c.name, typed.get(c.name, "unknown"), description=c.description) for c in model.columns]
    )
    deps = [asset for table in model.sources for asset in LAKE_ASSETS.get(table, [])]
    how = "rebuilt on every refresh" if model.incremental is None else f"incremental by {model.incremental.key}"
    return dg.AssetSpec(
        model_key(model.name),
        deps=[*dict.fromkeys(a.key for a in deps), *(model_key(name) for name in model.depends_on)],
        description=model.description,
        metadata={"dagster/column_schema": schema, "model": model.path, "refresh": how},
        group_name="warehouse",
        kinds={"duckdb", "sql"},
    )


def _check_result(result: AuditResult) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.WARN if result.audit.warn else dg.AssetCheckSeverity.ERROR
    details = {k: v if isinstance(v, int | float | str | bool | None) else str(v) for k, v in result.details.items()}
    return dg.AssetCheckResult(asset_key=model_key(result.audit.model), check_name=result.audit.name,
                               passed=result.passed, severity=severity, metadata=details)  # fmt: skip


def _tenant_figures(path: Path) -> dict[str, float]:
    """tenant_summary's SUMMARY_FIGURES per tenant, as `<tenant>/<figure>` metadata."""
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(f"select tenant_id, {', '.join(SUMMARY_FIGURES)} from tenant_summary").fetchall()
    return {f"{row[0]}/{name}": float(value) for row in rows for name, value in zip(SUMMARY_FIGURES, row[1:],
            strict=True) if value is not None}  # fmt: skip


def _metadata(build: WarehouseBuild, model: Model) -> dict:
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in build.column_types[model.name]])
    metadata = {
        "dagster/row_count": dg.MetadataValue.int(build.row_counts[model.name]),
        "dagster/column_schema": schema,
        "built_at": dg.MetadataValue.timestamp(build.built_at) if build.built_at else None,
        "data_through": dg.MetadataValue.timestamp(build.data_through) if build.data_through else None,
        "mode": f"full rebuild ({build.reason})" if build.reason else build.mode,
        "refreshed": model.name in build.models,
        "lake_files_read": build.files_read,
        "build_seconds": round(build.seconds, 2),
    }
    if model.name == "tenant_summary":
        metadata.update(_tenant_figures(build.path))
    return {k: v for k, v in metadata.items() if v is not None}


types = model_column_types(MODELS)


@dg.multi_asset(
    name="warehouse_models",
    specs=[_spec(model, types) for model in MODELS],
    check_specs=[
        dg.AssetCheckSpec(a.name, asset=model_key(a.model), description=a.description, blocking=a.blocking)
        for a in AUDITS
    ],  # fmt: skip
    pool="duckdb",  # one writer of the DuckDB file at a time
    can_subset=False,
)
def warehouse_models(
    context: dg.AssetExecutionContext,
    config: WarehouseConfig,
    archive: ArchiveResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
):
    """SESLAKE_WAREHOUSE: refreshed for the lake's changes (or rebuilt whole), audited, then published."""
    target = Path(warehouse.settings().warehouse)
    try:
        build = refresh_warehouse(lake.lake(), archive.registry(), target, full_rebuild=config.full_rebuild)
    except AuditFailed as failed:
        for result in failed.results:
            yield _check_result(result)
        raise dg.Failure(description=f"{failed}; the published warehouse {target} is unchanged") from None
    how = f"full rebuild ({build.reason})" if build.reason else build.mode
    context.log.info(f"{how}: {len(build.models)} models refreshed, {build.files_read} lake files read")
    for model in MODELS:
        yield dg.MaterializeResult(asset_key=model_key(model.name), metadata=_metadata(build, model))
    for result in build.audits:
        yield _check_result(result)


defs = dg.Definitions(assets=[warehouse_models])
