"""The DuckDB reporting warehouse, built from the lake tables and `sql/`."""

from pathlib import Path

import dagster as dg

from pipelines.orchestration.resources import ArchiveResource, LakeResource, WarehouseResource
from pipelines.warehouse.build import build_warehouse

from .events import ses_events
from .mime_ingest import inbound_mail, outbound_mail
from .threads import message_threads


@dg.asset(
    key_prefix="warehouse",
    group_name="warehouse",
    deps=[inbound_mail, outbound_mail, ses_events, message_threads],
    kinds={"duckdb"},
    pool="duckdb",
    description="SESLAKE_WAREHOUSE rebuilt from the lake: the lake tables plus every sql/ model in dependency "
    "order, built in a fresh file and renamed over the published one so open readers are never blocked.",
)
def reporting(archive: ArchiveResource, lake: LakeResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    build = build_warehouse(lake.lake(), archive.registry(), Path(warehouse.settings().warehouse))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(build.path)),
            "models": ", ".join(build.models),
            "row_counts": dg.MetadataValue.json(build.row_counts),
            "dagster/row_count": dg.MetadataValue.int(build.row_counts.get("message_engagement", 0)),
            "seconds": dg.MetadataValue.float(round(build.seconds, 2)),
        }
    )


defs = dg.Definitions(assets=[reporting])
