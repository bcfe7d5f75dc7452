"""The `source` catalog a build attaches: what staging models read as `source.<table>`.

Every lake table is a view, pointed by the build at the Parquet files it should read (all of them for a
full build, the changed days' for a refresh) or at rows the warehouse already holds; with no file it reads
an empty table of the table's schema. The tenant registry and the SES prices are small tables. The catalog
lives in memory and is detached before the file is published.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.storage.schemas import SCHEMAS, as_read
from pipelines.tenants import TenantRegistry
from pipelines.warehouse.models import LAKE_TABLES, SOURCE_CATALOG
from pipelines.warehouse.pricing import PRICES_USD
from pipelines.warehouse.providers import MAILBOX_PROVIDERS
from pipelines.warehouse.thresholds import BOUNCE_PAUSE, BOUNCE_REVIEW, COMPLAINT_PAUSE, COMPLAINT_REVIEW, WARNING_SHARE

EMPTY_SCHEMA = "empty"
"""The schema of the source catalog holding an empty table of each lake table's schema."""
HIVE_TYPES = "{'tenant': 'VARCHAR', 'date': 'DATE'}"
"""The partition columns' types, fixed so that a few files type them exactly as all files do."""


def attach_sources(connection: duckdb.DuckDBPyConnection, registry: TenantRegistry) -> None:
    """Attach the in-memory catalog `source`: every lake table as an (empty until pointed) view, and the
    tables `tenants` and `pricing`."""
    connection.execute(f"attach ':memory:' as {SOURCE_CATALOG}")
    connection.execute(f"create schema {SOURCE_CATALOG}.{EMPTY_SCHEMA}")
    for table in LAKE_TABLES:
        _create_table(connection, f"{SOURCE_CATALOG}.{EMPTY_SCHEMA}.{table}", as_read(SCHEMAS[table]).empty_table())
        point_source(connection, table, [])
    for name, rows in reference_tables(registry).items():
        _create_table(connection, f"{SOURCE_CATALOG}.{name}", rows)


def point_source(connection: duckdb.DuckDBPyConnection, table: str, files: list[Path]) -> None:
    """Make `source.<table>` read exactly `files` (Hive-partitioned Parquet files of the lake table)."""
    if not files:
        point_source_at(connection, table, f"select * from {SOURCE_CATALOG}.{EMPTY_SCHEMA}.{table}")
        return
    listed = ", ".join(sql_string(str(path)) for path in files)
    point_source_at(
        connection,
        table,
        f"select * from read_parquet([{listed}], hive_partitioning = true, hive_types = {HIVE_TYPES}, "
        "union_by_name = true)",
    )


def point_source_at(connection: duckdb.DuckDBPyConnection, table: str, select: str) -> None:
    """Make `source.<table>` read the rows of `select` (with the lake table's columns)."""
    connection.execute(f"create or replace view {SOURCE_CATALOG}.{table} as {select}")


def source_columns(table: str) -> list[str]:
    """The columns `source.<table>` has: the lake table's, with its partition columns."""
    return as_read(SCHEMAS[table]).names


def reference_tables(registry: TenantRegistry) -> dict[str, pa.Table]:
    """The sources that are not lake tables: the registry's tenants, the SES prices, the mailbox providers by
    recipient domain and SES's reputation thresholds."""
    tenants = pa.Table.from_pylist(
        [{"id": t.id, "name": t.name, "timezone": t.timezone,
          "first_response_sla_seconds": t.first_response_sla_seconds} for t in registry.tenants.values()],
        schema=pa.schema([("id", pa.string()), ("name", pa.string()), ("timezone", pa.string()),
                          ("first_response_sla_seconds", pa.int64())]),
    )  # fmt: skip
    providers = pa.Table.from_pylist(
        [{"domain": domain, "provider": provider} for domain, provider in sorted(MAILBOX_PROVIDERS.items())],
        schema=pa.schema([("domain", pa.string()), ("provider", pa.string())]),
    )
    thresholds = pa.Table.from_pylist([{
        "bounce_review": BOUNCE_REVIEW, "bounce_pause": BOUNCE_PAUSE, "complaint_review": COMPLAINT_REVIEW,
        "complaint_pause": COMPLAINT_PAUSE, "warning_share": WARNING_SHARE,
    }])  # fmt: skip
    return {"tenants": tenants, "pricing": pa.Table.from_pylist([PRICES_USD]), "mailbox_providers": providers,
            "reputation_thresholds": thresholds}  # fmt: skip


def references_fingerprint(registry: TenantRegistry) -> str:
    """A hash of the reference sources' rows: a warehouse built from other tenants or prices is rebuilt whole."""
    rows = {name: table.to_pylist() for name, table in sorted(reference_tables(registry).items())}
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()


def sql_string(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _create_table(connection: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    connection.register("source_rows", table)
    connection.execute(f"create table {name} as select * from source_rows")
    connection.unregister("source_rows")
