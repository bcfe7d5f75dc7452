"""The analysts' DuckDB warehouse, rebuilt from the lake and published atomically.

The build attaches the sources as an in-memory catalog `source` (the lake's Parquet tables as views, the
tenant registry and the SES prices as small tables), then creates one table per model (`sql/staging/`,
then `sql/marts/`, each after the models it reads; see `pipelines.warehouse.models`) with the model's
documentation as `COMMENT ON TABLE` / `COMMENT ON COLUMN`, and detaches the sources: the published file
holds the models' tables only, one copy of each. The build goes into a fresh file that is renamed over
the published one: an analyst holding the old file open keeps reading it, is never blocked, and never
sees half a build.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore
from pipelines.storage.schemas import SCHEMAS, as_read
from pipelines.tenants import TenantRegistry
from pipelines.warehouse.models import LAKE_TABLES, SOURCE_CATALOG, Model, load_models, model_order
from pipelines.warehouse.pricing import PRICES_USD


@dataclass
class WarehouseBuild:
    path: Path
    row_counts: dict[str, int] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    seconds: float = 0.0


def build_warehouse(
    lake: Lake, registry: TenantRegistry, target: Path, models: list[Model] | None = None
) -> WarehouseBuild:
    """Build every model (default: `load_models()`) from the lake and the registry into `target`."""
    started = time.perf_counter()
    models = model_order(load_models() if models is None else models)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(f".{target.name}.building-{os.getpid()}")
    building.unlink(missing_ok=True)
    result = WarehouseBuild(path=target)
    with tempfile.TemporaryDirectory(prefix="seslake-lake-") as scratch:
        root = _local_lake_root(lake, Path(scratch))
        connection = duckdb.connect(str(building))
        try:
            connection.execute("set TimeZone = 'UTC'")
            attach_sources(connection, root, registry)
            for model in models:
                create_model(connection, model)
                result.models.append(model.name)
            connection.execute(f"detach {SOURCE_CATALOG}")
            for model in models:
                result.row_counts[model.name] = connection.execute(f'select count(*) from "{model.name}"').fetchone()[0]
        except BaseException:
            connection.close()
            building.unlink(missing_ok=True)
            raise
        connection.close()
    os.replace(building, target)
    result.seconds = time.perf_counter() - started
    return result


def attach_sources(connection: duckdb.DuckDBPyConnection, lake_root: Path, registry: TenantRegistry) -> None:
    """Attach the in-memory catalog `source`: a view over each lake table's Parquet files under `lake_root`
    (an empty table of its schema when it has none), and the tables `tenants` and `pricing`."""
    connection.execute(f"attach ':memory:' as {SOURCE_CATALOG}")
    for table in LAKE_TABLES:
        if any((lake_root / table).glob("*/*/*.parquet")):
            pattern = _sql_string(str(lake_root / table / "*" / "*" / "*.parquet"))
            connection.execute(
                f"create view {SOURCE_CATALOG}.{table} as "
                f"select * from read_parquet({pattern}, hive_partitioning = true, union_by_name = true)"
            )
        else:
            _create_source_table(connection, table, as_read(SCHEMAS[table]).empty_table())
    tenants = pa.Table.from_pylist(
        [{"id": t.id, "name": t.name} for t in registry.tenants.values()],
        schema=pa.schema([("id", pa.string()), ("name", pa.string())]),
    )
    _create_source_table(connection, "tenants", tenants)
    _create_source_table(connection, "pricing", pa.Table.from_pylist([PRICES_USD]))


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
    connection.execute(f'comment on table "{model.name}" is {_sql_string(model.description)}')
    for column in model.columns:
        connection.execute(f'comment on column "{model.name}"."{column.name}" is {_sql_string(column.description)}')


def _create_source_table(connection: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    connection.register("source_rows", table)
    connection.execute(f"create table {SOURCE_CATALOG}.{name} as select * from source_rows")
    connection.unregister("source_rows")


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _local_lake_root(lake: Lake, scratch: Path) -> Path:
    """The lake as a local folder: itself, or a copy of its Parquet files when it lives on S3."""
    if isinstance(lake.store, LocalStore):
        return lake.store.root
    for table in LAKE_TABLES:
        for key in lake.partition_files(table):
            path = scratch / key
            path.parent.mkdir(parents=True, exist_ok=True)
            lake.store.download(key, path)
    return scratch
