"""The analysts' DuckDB warehouse, rebuilt from the lake and published atomically.

The lake tables are loaded as they are (`messages` with its `thread_id`), then every `sql/*.sql`
model runs in dependency order (a model depends on the models whose names it mentions). The build
goes into a fresh file that is renamed over the published one: an analyst holding the old file open
keeps reading it, is never blocked, and never sees half a build.
"""

from __future__ import annotations

import os
import re
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
from pipelines.warehouse.pricing import PRICES_USD

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
LAKE_TABLES = (
    "messages", "recipients", "attachments", "quarantine", "events", "message_threads", "thread_renames",
)  # fmt: skip

THREAD_IDS_SQL = """
create or replace table messages as
with recursive renamed(old_thread_id, thread_id, depth) as (
    select old_thread_id, thread_id, 1 from thread_renames
    union all
    select r.old_thread_id, n.thread_id, r.depth + 1
    from renamed r join thread_renames n on n.old_thread_id = r.thread_id
    where r.depth < 1000
),
current_id as (
    select old_thread_id, arg_max(thread_id, depth) as thread_id from renamed group by all
)
select m.*, coalesce(c.thread_id, t.thread_id) as thread_id
from messages m
left join message_threads t on t.direction = m.direction and t.object_key = m.object_key
left join current_id c on c.old_thread_id = t.thread_id
"""
"""`messages` gets its thread: the id it was threaded with, read through later joins of threads."""


@dataclass
class WarehouseBuild:
    path: Path
    row_counts: dict[str, int] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    seconds: float = 0.0


def model_order(sql_dir: Path = SQL_DIR) -> list[Path]:
    """The model files, each after the models it mentions; a cycle is an error naming the models."""
    files = {path.stem: path for path in sorted(sql_dir.glob("*.sql"))}
    needs = {
        name: {other for other in files if other != name and re.search(rf"\b{other}\b", path.read_text())}
        for name, path in files.items()
    }
    ordered: list[str] = []
    while needs:
        ready = sorted(name for name, deps in needs.items() if deps <= set(ordered))
        if not ready:
            raise ValueError(f"sql/ models depend on each other in a cycle: {sorted(needs)}")
        ordered += ready
        for name in ready:
            del needs[name]
    return [files[name] for name in ordered]


def build_warehouse(lake: Lake, registry: TenantRegistry, target: Path, sql_dir: Path = SQL_DIR) -> WarehouseBuild:
    started = time.perf_counter()
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
            for table in LAKE_TABLES:
                _load_lake_table(connection, root, table)
            connection.execute(THREAD_IDS_SQL)
            _load_reference_tables(connection, registry)
            for path in model_order(sql_dir):
                connection.execute(path.read_text())
                result.models.append(path.stem)
            for (name,) in connection.execute("select table_name from information_schema.tables order by 1").fetchall():
                result.row_counts[name] = connection.execute(f'select count(*) from "{name}"').fetchone()[0]
        except BaseException:
            connection.close()
            building.unlink(missing_ok=True)
            raise
        connection.close()
    os.replace(building, target)
    result.seconds = time.perf_counter() - started
    return result


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


def _load_lake_table(connection: duckdb.DuckDBPyConnection, root: Path, table: str) -> None:
    pattern = root / table / "*" / "*" / "*.parquet"
    if any((root / table).glob("*/*/*.parquet")):
        connection.execute(
            f"create table {table} as select * from read_parquet(?, hive_partitioning = true, union_by_name = true)",
            [str(pattern)],
        )
        return
    empty = as_read(SCHEMAS[table]).empty_table()
    connection.register("empty_lake_table", empty)
    connection.execute(f"create table {table} as select * from empty_lake_table")
    connection.unregister("empty_lake_table")


def _load_reference_tables(connection: duckdb.DuckDBPyConnection, registry: TenantRegistry) -> None:
    tenants = pa.Table.from_pylist(
        [{"id": t.id, "name": t.name} for t in registry.tenants.values()],
        schema=pa.schema([("id", pa.string()), ("name", pa.string())]),
    )
    pricing = pa.Table.from_pylist([PRICES_USD])
    for name, table in (("tenants", tenants), ("pricing", pricing)):
        connection.register(f"{name}_source", table)
        connection.execute(f"create table {name} as select * from {name}_source")
        connection.unregister(f"{name}_source")
