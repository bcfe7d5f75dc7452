"""The two event normalizers over the same lines, for tests that compare them: the DuckDB bulk path
(with the reference taking what it leaves, as the ingest does) and the reference alone."""

from __future__ import annotations

import io

import duckdb

from pipelines.events.bulk import BulkLines, normalize_batch
from pipelines.events.lines import BadLine, NumberedLine, read_lines
from pipelines.events.normalize import parse_lines
from pipelines.storage.schemas import EVENTS, with_day
from pipelines.tenants import TenantRegistry


def numbered_lines(data: bytes) -> tuple[list[NumberedLine], list[BadLine]]:
    """The lines `read_lines` gives for an object's bytes, and the bad lines it refuses."""
    lines: list[NumberedLine] = []
    refused: list[BadLine] = []
    for item in read_lines(io.BytesIO(data)):
        (refused if isinstance(item, BadLine) else lines).append(item)
    return lines, refused


def reference(files: dict[str, list[NumberedLine]], registry: TenantRegistry | None) -> tuple[list[dict], list]:
    """Rows (with source_key and _day) and (key, line, reason) of every line, by the reference alone."""
    rows, bad = [], []
    for key, lines in files.items():
        good, refused = parse_lines(lines, registry)
        rows += [{**row, "source_key": key, "_day": row["event_at"].date()} for row in good]
        bad += [(key, b.line_number, b.reason) for b in refused]
    return rows, bad


def bulk(
    files: dict[str, list[NumberedLine]], registry: TenantRegistry | None
) -> tuple[list[dict], list[tuple[str, int, bytes]]]:
    """The rows the DuckDB path gives for the lines it takes, and the lines it leaves to the reference."""
    collected = BulkLines()
    for key, lines in files.items():
        for number, line in lines:
            collected.add(key, number, line)
    con = duckdb.connect()
    try:
        con.register("empty_rows", with_day(EVENTS).empty_table())
        con.execute("create table staged as select * from empty_rows")
        leftovers = normalize_batch(con, collected, registry, "staged")
        return con.sql("select * from staged").to_arrow_table().to_pylist(), leftovers
    finally:
        con.close()


def as_set(rows: list[dict]) -> set[tuple]:
    return {tuple(sorted(row.items())) for row in rows}
