"""Comparing two warehouses built different ways (incrementally and from scratch, fanned out and in one run)."""

from __future__ import annotations

from pathlib import Path

import duckdb


def warehouse_rows(path: Path, volatile: set[str]) -> dict[str, list[str]]:
    """Every analyst table of the file (not the `_`-prefixed build state) as its sorted rows, without the
    `volatile` columns (wall-clock stamps that differ between two builds of the same data)."""
    with duckdb.connect(str(path), read_only=True) as connection:
        names = [r[0] for r in connection.execute("select table_name from information_schema.tables where "
                                                  "table_schema = 'main' and table_name not like '\\_%' escape '\\'")
                 .fetchall()]  # fmt: skip
        tables = {}
        for name in names:
            columns = [r[0] for r in connection.execute(f'describe "{name}"').fetchall() if r[0] not in volatile]
            select = ", ".join(f'"{c}"' for c in columns)
            tables[name] = sorted(map(repr, connection.execute(f'select {select} from "{name}"').fetchall()))
    return tables
