"""What a warehouse was built from, kept inside it in the one-row table BUILD_TABLE.

A refresh reads it to know where to continue: the lake it was built from, the cursor in the lake's commit
log (`Lake.changes`) its tables are current to, and the fingerprints of the models and of the reference
sources (tenants, prices) it was built with. Any of these not matching means a full rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.warehouse.sources import sql_string

BUILD_TABLE = "_seslake_build"
"""The warehouse's bookkeeping table: one row saying what the tables were built from."""
STATE_VERSION = 1
"""The version of the refresh rules; a warehouse built under another is rebuilt whole."""

_COLUMNS = {
    "lake": ("varchar", "The lake the warehouse was built from (folder or s3:// URL)."),
    "cursor": ("varchar", "The lake's commit-log entry the tables are current to (Lake.changes); null: unknown."),
    "models_fingerprint": ("varchar", "Hash of the sql/ models the tables were built with."),
    "references_fingerprint": ("varchar", "Hash of the tenant registry's tenants and the SES prices."),
    "version": ("integer", "The version of the refresh rules."),
    "mode": ("varchar", "How the file was last made: `full` (rebuilt from the lake) or `incremental`."),
    "built_at": ("timestamptz", "When the file was last made (UTC)."),
}


@dataclass(frozen=True)
class BuildState:
    """The row of BUILD_TABLE."""

    lake: str
    cursor: str | None
    models_fingerprint: str
    references_fingerprint: str
    version: int
    mode: str
    built_at: datetime


def read_state(path: Path) -> BuildState | None:
    """The build state of the warehouse file at `path` (opened read-only), or None when there is no file,
    no state, or the file cannot be read."""
    if not path.is_file():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as connection:
            row = connection.execute(f"select {', '.join(_COLUMNS)} from {BUILD_TABLE}").fetchall()
    except duckdb.Error:
        return None
    return BuildState(*row[0]) if len(row) == 1 else None


def write_state(connection: duckdb.DuckDBPyConnection, state: BuildState) -> None:
    """Replace BUILD_TABLE with `state`, documented like the models' tables."""
    columns = ", ".join(f"{name} {kind}" for name, (kind, _) in _COLUMNS.items())
    connection.execute(f"create or replace table {BUILD_TABLE} ({columns})")
    connection.execute(
        f"insert into {BUILD_TABLE} values ({', '.join('?' for _ in _COLUMNS)})",
        [getattr(state, name) for name in _COLUMNS],
    )
    described = sql_string("The build's bookkeeping: what the tables were built from (one row).")
    connection.execute(f"comment on table {BUILD_TABLE} is {described}")
    for name, (_, description) in _COLUMNS.items():
        connection.execute(f"comment on column {BUILD_TABLE}.{name} is {sql_string(description)}")
