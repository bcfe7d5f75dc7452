"""The analysts' DuckDB warehouse, built whole from the lake and published atomically.

The build attaches the sources as an in-memory catalog `source` (`pipelines.warehouse.sources`: the lake's
Parquet files as views, the tenant registry and the SES prices as small tables), then creates one table
per model (`sql/staging/`, then `sql/marts/`, each after the models it reads; see
`pipelines.warehouse.models`) with the model's documentation as `COMMENT ON TABLE` / `COMMENT ON COLUMN`,
records what it was built from in BUILD_TABLE (`pipelines.warehouse.state`), and detaches the sources: the
published file holds the models' tables and that one bookkeeping row. The build goes into a fresh file that
is renamed over the published one: an analyst holding the old file open keeps reading it, is never
blocked, and never sees half a build. `pipelines.warehouse.refresh` updates a built file for what changed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.storage.lake import Lake
from pipelines.tenants import TenantRegistry
from pipelines.warehouse.audits import AuditResult, run_audits
from pipelines.warehouse.mirror import LakeFiles, mirror_folder
from pipelines.warehouse.models import LAKE_TABLES, SOURCE_CATALOG, Model, load_models, model_order, models_fingerprint
from pipelines.warehouse.sources import attach_sources, point_source, references_fingerprint, sql_string
from pipelines.warehouse.state import STATE_VERSION, BuildState, write_state

FULL = "full"
INCREMENTAL = "incremental"
UNCHANGED = "unchanged"
"""WarehouseBuild.mode: rebuilt whole, updated for what changed, or left as it was (nothing changed)."""


@dataclass
class WarehouseBuild:
    """What a build or refresh did."""

    path: Path
    mode: str = FULL
    reason: str = ""
    """Why a full rebuild (empty for a refresh)."""
    row_counts: dict[str, int] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    """The models built or refreshed, in order."""
    changed_days: dict[str, list[str]] = field(default_factory=dict)
    """A refresh: per lake table, the days that changed since the previous build."""
    files_read: int = 0
    """Distinct lake Parquet files the build read."""
    files_downloaded: int = 0
    """Of those, the files downloaded from an S3 lake into the mirror."""
    copy_seconds: float = 0.0
    """A refresh: the time copying the published file to the building one took."""
    audits: list[AuditResult] = field(default_factory=list)
    """The audits the new file passed before it was published (`pipelines.warehouse.audits`)."""
    column_types: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Model → its columns and their DuckDB types."""
    built_at: datetime | None = None
    data_through: datetime | None = None
    """The newest event or message arrival in the warehouse: how current its figures are."""
    seconds: float = 0.0


def build_warehouse(
    lake: Lake, registry: TenantRegistry, target: Path, models: list[Model] | None = None, *, reason: str = "requested"
) -> WarehouseBuild:
    """Build every model (default: `load_models()`) from the whole lake and the registry into `target`."""
    started = time.perf_counter()
    models = model_order(load_models() if models is None else models)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    lake.recover()
    _, cursor = lake.changes()  # taken before the files are read: a later commit is read again by a refresh
    files = LakeFiles(lake, mirror_folder(target))
    result = WarehouseBuild(path=target, mode=FULL, reason=reason)
    with publishing(target) as connection:
        attach_sources(connection, registry)
        for table in LAKE_TABLES:
            paths = files.all_files(table)
            point_source(connection, table, paths)
            result.files_read += len(paths)
        for model in models:
            create_model(connection, model)
            result.models.append(model.name)
        write_state(connection, build_state(lake, registry, models, cursor, FULL))
        finish(connection, models, result)
    result.files_downloaded = files.downloaded
    result.seconds = time.perf_counter() - started
    return result


def building_path(target: Path) -> Path:
    """The fresh file a build writes before it is renamed over `target`."""
    return target.with_name(f".{target.name}.building-{os.getpid()}")


@contextmanager
def publishing(target: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the building file of `target` (a copy of it when one was made there first): renamed over
    `target` when the block ends, removed when it raises (an audit that failed included)."""
    building = building_path(target)
    connection = open_building(building)
    try:
        yield connection
    except BaseException:
        connection.close()
        building.unlink(missing_ok=True)
        raise
    connection.close()
    os.replace(building, target)


def open_building(building: Path) -> duckdb.DuckDBPyConnection:
    """A connection to the building file (times in UTC)."""
    connection = duckdb.connect(str(building))
    connection.execute("set TimeZone = 'UTC'")
    return connection


def build_state(lake: Lake, registry: TenantRegistry, models: list[Model], cursor: str | None, mode: str) -> BuildState:
    """The state a build of `models` from `lake` and `registry`, current to `cursor`, records."""
    return BuildState(
        lake=lake.url,
        cursor=cursor,
        models_fingerprint=models_fingerprint(models),
        references_fingerprint=references_fingerprint(registry),
        version=STATE_VERSION,
        mode=mode,
        built_at=datetime.now(UTC),
    )


def finish(connection: duckdb.DuckDBPyConnection, models: list[Model], result: WarehouseBuild) -> None:
    """Detach the sources, note every model table's row count and column types and how current the data is,
    then audit the file: a blocking audit that fails raises AuditFailed, and the file is not published."""
    connection.execute(f"detach {SOURCE_CATALOG}")
    describe(connection, models, result)
    result.audits = run_audits(connection)


def describe(connection: duckdb.DuckDBPyConnection, models: list[Model], result: WarehouseBuild) -> None:
    """Row counts, column types, build time and data-through time of the models' tables into `result`."""
    result.row_counts = {m.name: connection.execute(f'select count(*) from "{m.name}"').fetchone()[0] for m in models}
    result.column_types = {
        m.name: [(row[0], row[1]) for row in connection.execute(f'describe "{m.name}"').fetchall()] for m in models
    }
    result.built_at = datetime.now(UTC)
    result.data_through = connection.execute(
        "select greatest((select max(event_at) from events), (select max(received_at) from messages))"
    ).fetchone()[0]


def create_model(connection: duckdb.DuckDBPyConnection, model: Model) -> None:
    """Create the model's table from its select, check its columns are the documented ones, and record
    the documentation as the table's and columns' comments; all in one transaction."""
    connection.begin()
    try:
        _create_documented_table(connection, model)
    except BaseException:
        connection.rollback()
        raise
    connection.commit()


def _create_documented_table(connection: duckdb.DuckDBPyConnection, model: Model) -> None:
    connection.execute(f'create table "{model.name}" as\n{model.sql}')
    columns = [c[0] for c in connection.execute(f'select * from "{model.name}" limit 0').description]
    documented = [c.name for c in model.columns]
    if columns != documented:
        missing = [c for c in columns if c not in documented]
        extra = [c for c in documented if c not in columns]
        differences = f"undocumented {missing}, documented but absent {extra}" if missing or extra else "order"
        raise ValueError(f"{model.path}: the documented columns are not the table's {columns}: {differences}")
    connection.execute(f'comment on table "{model.name}" is {sql_string(model.description)}')
    for column in model.columns:
        connection.execute(f'comment on column "{model.name}"."{column.name}" is {sql_string(column.description)}')
