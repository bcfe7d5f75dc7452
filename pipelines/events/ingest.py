"""Firehose event files → the `events` lake table, incrementally, with a processed-file ledger.

A run reads only files the ledger has not seen (key and size), normalizes them, and rewrites the
event-date partitions they touch: existing rows of those days plus the new ones, deduplicated by
(fingerprint, recipient) keeping the earliest (source key, line). Because the kept copy does not
depend on the order files were read in, incremental runs and a full rebuild give the same lake.
Bad lines and unattributable events go to `quarantine` (part `events`) with file key and line.

Files are read in batches of about BATCH_BYTES and staged in a DuckDB file on local disk with a
memory limit, so memory stays bounded however many files a rebuild reads; the dedupe runs there
and the partitions are written a few days at a time.
"""

from __future__ import annotations

import gzip
import io
import itertools
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.events.bulk import normalize_batch, split_lines
from pipelines.events.normalize import BadLine, decompress, iter_lines, parse_lines
from pipelines.storage.lake import Lake, to_parquet_bytes
from pipelines.storage.objects import ObjectInfo, ObjectStore
from pipelines.storage.schemas import DAY_COLUMN, EVENTS, QUARANTINE, quarantine_row, with_day
from pipelines.tenants import TenantRegistry

PART = "events"
LEDGER_KEY = "_ledger/event_files.parquet"
BATCH_BYTES = 16 * 1024 * 1024
"""Listed (possibly gzip) bytes of files read and normalized together."""
FETCH_THREADS = 8
DAYS_PER_WRITE = 8
"""Event days read back from the staging database and written to the lake at a time."""
STAGING_MEMORY = "256MB"
_EVENTS_WITH_DAY = with_day(EVENTS)
_QUARANTINE_WITH_DAY = with_day(QUARANTINE)
LEDGER = pa.schema([("key", pa.string()), ("size", pa.int64()), ("processed_at", pa.timestamp("us", tz="UTC"))])


@dataclass
class EventIngestResult:
    files_listed: int = 0
    files_read: int = 0
    lines_bad: int = 0
    rows_new: int = 0
    rows_duplicate: int = 0
    unattributed: int = 0
    days: list[date] = field(default_factory=list)
    per_type: Counter = field(default_factory=Counter)
    per_tenant: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def read_ledger(lake: Lake) -> dict[str, int]:
    """Files already ingested: key → size (a file re-delivered with another size is read again)."""
    if not any(info.key == LEDGER_KEY for info in lake.store.list(LEDGER_KEY)):
        return {}
    table = pq.read_table(io.BytesIO(lake.store.get(LEDGER_KEY)))
    return dict(zip(table.column("key").to_pylist(), table.column("size").to_pylist(), strict=True))


def ingest_events(
    store: ObjectStore,
    lake: Lake,
    registry: TenantRegistry,
    prefix: str,
    *,
    full_rebuild: bool = False,
    tenants: set[str] | None = None,
) -> EventIngestResult:
    """Ingest new event files (all of them with `full_rebuild`).

    `tenants` rebuilds just those tenants' partitions from every file, leaving the other tenants,
    the quarantine and the ledger as they are: a one-tenant backfill equal to a full rebuild."""
    started = time.perf_counter()
    result = EventIngestResult()
    listed = list(store.list(prefix))
    result.files_listed = len(listed)
    full_rebuild = full_rebuild or tenants is not None
    ledger = {} if full_rebuild else read_ledger(lake)
    new_files = [o for o in listed if ledger.get(o.key) != o.size]
    result.files_read = len(new_files)

    with tempfile.TemporaryDirectory(prefix="seslake-events-") as scratch, _Staging(Path(scratch)) as con:
        # The next batch is fetched and split while DuckDB normalizes the current one.
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = None
            for batch in _batches(new_files):
                upcoming = reader.submit(_read_batch, store, batch)
                if pending is not None:
                    _stage_batch(con, registry, pending.result())
                pending = upcoming
            if pending is not None:
                _stage_batch(con, registry, pending.result())
        _quarantine_unattributed(con, {o.key: o for o in new_files})
        result.lines_bad = _count(con, "select count(*) from staged_quarantine where stage = 'parse'")
        result.unattributed = _count(con, "select count(*) from staged_quarantine where stage = 'attribute'")
        new_rows = _count(con, "select count(*) from staged_events")
        event_days = _days(con, "staged_events")
        quarantine_days = _days(con, "staged_quarantine")
        if full_rebuild:  # also empty the days whose files no longer hold any event
            event_days |= lake.partition_days("events", PART)
            quarantine_days |= lake.partition_days("quarantine", PART)
        else:
            _stage_existing(con, lake, "events", "staged_events", event_days)
            _stage_existing(con, lake, "quarantine", "staged_quarantine", quarantine_days)
        merged_rows = _count(con, "select count(*) from staged_events")
        _dedupe(con, "staged_events", ["fingerprint", "recipient"])
        _dedupe(con, "staged_quarantine", ["source_key", "line_number"])
        kept_rows = _count(con, "select count(*) from staged_events")
        result.rows_new = kept_rows - (merged_rows - new_rows)
        result.rows_duplicate = merged_rows - kept_rows
        if tenants is not None:
            con.execute("delete from staged_events where not list_contains(?, tenant_id)", [sorted(tenants)]).fetchall()
        _write_days(con, lake, "events", "staged_events", event_days, tenants)
        if tenants is None:
            _write_days(con, lake, "quarantine", "staged_quarantine", quarantine_days)
        result.per_type = _counts(con, "event_type")
        result.per_tenant = _counts(con, "tenant_id")

    result.days = sorted(event_days)
    result.seconds = time.perf_counter() - started
    if tenants is not None:
        return result
    now = datetime.now(UTC)
    kept = {} if full_rebuild else ledger
    kept.update({o.key: o.size for o in new_files})
    ledger_rows = [{"key": k, "size": s, "processed_at": now} for k, s in sorted(kept.items())]
    lake.store.put(LEDGER_KEY, to_parquet_bytes(pa.Table.from_pylist(ledger_rows, schema=LEDGER)))
    result.seconds = time.perf_counter() - started
    return result


class _Staging:
    """A DuckDB file in `folder` holding this run's event and quarantine rows before they are written."""

    def __init__(self, folder: Path) -> None:
        self.con = duckdb.connect(str(folder / "staging.duckdb"))
        self.con.execute(f"set memory_limit = '{STAGING_MEMORY}'; set temp_directory = '{folder / 'spill'}'; "
                         "set TimeZone = 'UTC'")  # fmt: skip
        for name, schema in (("staged_events", _EVENTS_WITH_DAY), ("staged_quarantine", _QUARANTINE_WITH_DAY)):
            self.con.register("empty_rows", schema.empty_table())
            self.con.execute(f"create table {name} as select * from empty_rows")
            self.con.unregister("empty_rows")

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def _batches(files: list[ObjectInfo]) -> Iterator[list[ObjectInfo]]:
    batch: list[ObjectInfo] = []
    size = 0
    for info in files:
        batch.append(info)
        size += info.size
        if size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _fetch(store: ObjectStore, info: ObjectInfo) -> bytes | BadLine:
    """The object's decompressed bytes, or the reason it cannot be read as one."""
    try:
        return decompress(store.get(info.key))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        return BadLine(0, "bad_compression", f"{type(exc).__name__}: {exc}")


@dataclass
class _ReadBatch:
    files: list[ObjectInfo]
    contents: list[bytes | BadLine]
    """Each file's decompressed bytes, or why it could not be read."""
    lines: pa.Table
    undecoded: list[str]


def _read_batch(store: ObjectStore, batch: list[ObjectInfo]) -> _ReadBatch:
    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        contents = list(pool.map(lambda info: _fetch(store, info), batch))
    readable = [(info.key, data) for info, data in zip(batch, contents, strict=True) if isinstance(data, bytes)]
    lines, undecoded = split_lines(readable)
    return _ReadBatch(batch, contents, lines, undecoded)


def _stage_batch(con: duckdb.DuckDBPyConnection, registry: TenantRegistry, read: _ReadBatch) -> None:
    """Normalize one batch of files into the staging tables: DuckDB for the common shape, the Python
    reference normalizer for every other line."""
    leftovers = normalize_batch(con, read.lines, registry, "staged_events")
    batch, contents = read.files, read.contents
    by_key = {info.key: info for info in batch}
    readable = [(info.key, data) for info, data in zip(batch, contents, strict=True) if isinstance(data, bytes)]
    undecoded = read.undecoded

    rows: list[dict] = []
    quarantine: list[dict] = []
    content_of = dict(readable)
    per_file = [(key, list(iter_lines(content_of[key]))) for key in undecoded]
    per_file += [
        (key, [(n, text) for _, n, text in group]) for key, group in itertools.groupby(leftovers, lambda x: x[0])
    ]
    for info, data in zip(batch, contents, strict=True):
        if isinstance(data, BadLine):
            quarantine.append(quarantine_row(PART, info, "parse", data.reason, data.error, data.line_number))
    for key, numbered_lines in per_file:
        good, bad = parse_lines(numbered_lines, registry)
        info = by_key[key]
        quarantine += [quarantine_row(PART, info, "parse", b.reason, b.error, b.line_number) for b in bad]
        for row in good:
            row["source_key"] = key
            row[DAY_COLUMN] = row["event_at"].date()
        rows += good
    _insert(con, "staged_events", pa.Table.from_pylist(rows, schema=_EVENTS_WITH_DAY))
    _insert(con, "staged_quarantine", pa.Table.from_pylist(quarantine, schema=_QUARANTINE_WITH_DAY))


def _quarantine_unattributed(con: duckdb.DuckDBPyConnection, files: dict[str, ObjectInfo]) -> None:
    """Move events with no tenant to the quarantine, with their file and line."""
    unattributed = con.execute(
        "select source_key, line_number, ses_message_id, event_type from staged_events where tenant_id is null"
    ).fetchall()
    rows = [
        quarantine_row(PART, files[key], "attribute", "unattributed", f"no tenant for message {message} ({kind})", line)
        for key, line, message, kind in unattributed
    ]
    _insert(con, "staged_quarantine", pa.Table.from_pylist(rows, schema=_QUARANTINE_WITH_DAY))
    con.execute("delete from staged_events where tenant_id is null").fetchall()


def _stage_existing(con: duckdb.DuckDBPyConnection, lake: Lake, table: str, staged: str, days: set[date]) -> None:
    """Add the rows this part already has for `days`, so the rewritten days keep them."""
    ordered = sorted(days)
    for first in range(0, len(ordered), DAYS_PER_WRITE):
        existing = lake.read_table(table, part=PART, days=set(ordered[first : first + DAYS_PER_WRITE]))
        if existing.num_rows:
            names = [n for n in existing.schema.names if n not in ("tenant", "date")]
            _insert(con, staged, existing.select(names).append_column(DAY_COLUMN, existing.column("date")))


def _dedupe(con: duckdb.DuckDBPyConnection, staged: str, key: list[str]) -> None:
    """One row per key (nulls equal): the one with the smallest (source_key, line_number). Only keys
    seen more than once are ranked, since duplicates are few."""
    columns = ", ".join(key)
    same = " and ".join(f"s.{c} is not distinct from d.{c}" for c in key)
    con.execute(f"""
        delete from {staged} where rowid in (
            select rowid from (
                select s.rowid, row_number() over (partition by {columns} order by source_key, line_number) as rank
                from {staged} s semi join (select {columns} from {staged} group by all having count(*) > 1) d on {same}
            ) where rank > 1
        )""").fetchall()


def _write_days(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    table: str,
    staged: str,
    days: set[date],
    tenants: set[str] | None = None,
) -> None:
    """Write the staged rows of `days`, a few days at a time, in file and line order (stable files)."""
    order = "source_key, line_number" + (", recipient" if table == "events" else "")
    ordered = sorted(days)
    for first in range(0, len(ordered), DAYS_PER_WRITE):
        group = ordered[first : first + DAYS_PER_WRITE]
        query = f"select * from {staged} where {DAY_COLUMN} in ? order by {order}"
        rows = con.sql(query, params=[group]).to_arrow_table()
        lake.replace_partitions(table, PART, group, rows, day_column=DAY_COLUMN, tenants=tenants)


def _insert(con: duckdb.DuckDBPyConnection, staged: str, rows: pa.Table) -> None:
    if rows.num_rows:
        con.execute(f"insert into {staged} by name select * from rows").fetchall()


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    return con.execute(query).fetchall()[0][0]


def _counts(con: duckdb.DuckDBPyConnection, column: str) -> Counter:
    return Counter(dict(con.execute(f"select {column}, count(*) from staged_events group by 1").fetchall()))


def _days(con: duckdb.DuckDBPyConnection, staged: str) -> set[date]:
    return {day for (day,) in con.execute(f"select distinct {DAY_COLUMN} from {staged}").fetchall()}
