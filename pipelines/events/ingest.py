"""Firehose event files → the `events` lake table, incrementally, with a processed-file ledger.

A run reads only files the ledger has not seen (key and size), normalizes them, and rewrites the
event-date partitions they touch: existing rows of those days plus the new ones, deduplicated by
(fingerprint, recipient) keeping the earliest (source key, line). Because the kept copy does not
depend on the order files were read in, incremental runs and a full rebuild give the same lake.
Bad lines and unattributable events go to `quarantine` (part `events`) with file key and line.

Files are read as streams in batches of bounded size (`pipelines.events.batches`) and staged in a
DuckDB file on local disk with a memory limit (STAGING_MEMORY), so memory stays bounded however
many files a rebuild reads and whatever a file holds; the dedupe runs there and the partitions are
written a few days at a time (at most ROWS_PER_WRITE rows, unless one day holds more).

Nothing one file holds stops the run or the other files. The limits, each a named constant:
- `lines.MAX_LINE_BYTES` (1 MiB): a longer line is skipped unread and quarantined (`line_too_long`);
- `lines.MAX_FILE_BYTES` (256 MiB decompressed): a decompression bomb is read that far, and an object
  listed larger is not fetched at all (`file_too_large`);
- `lines.READ_CHUNK_BYTES`, `batches.BATCH_BYTES`, `batches.BATCH_LINES`, `batches.FETCH_GROUP_BYTES`,
  `batches.IN_MEMORY_OBJECT_BYTES`, STAGING_MEMORY, ROWS_PER_WRITE, DAYS_PER_WRITE: how much is held
  at a time;
- MAX_BAD_LINES_PER_FILE (1,000): a file's first bad lines are quarantined one by one, the rest
  counted in a single `too_many_bad_lines` row, so a file of garbage cannot flood the quarantine.

A truncated gzip (`truncated_compression`) or one over the size cap keeps the lines read whole before
the break, which is quarantined at the line in progress. A corrupt gzip (`bad_compression`) gives no
event: deflate garbles damaged data silently until its CRC is checked, so nothing read from it can
be trusted, and its one quarantine row stands for the whole file. Lines that are not UTF-8 or not
JSON, and lines of the wrong shape, are quarantined one by one with their reason. Every such file
counts as dealt with: it enters the ledger and is not read again. A file whose fetch fails (any
exception) is quarantined at stage `fetch` (`read_failed`) and left out of the ledger, so the next
run tries it again; once it is read, that row is replaced by what the file holds. Should DuckDB fail
on a batch, the reference normalizer takes the batch's lines instead.
"""

from __future__ import annotations

import io
import itertools
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.events.batches import LineBatch, read_batches
from pipelines.events.bulk import normalize_batch
from pipelines.events.lines import CORRUPT, STREAM_BREAKS, BadLine
from pipelines.events.normalize import parse_lines
from pipelines.progress import PROGRESS
from pipelines.storage.lake import Lake, to_parquet_bytes
from pipelines.storage.objects import ObjectInfo, ObjectStore
from pipelines.storage.schemas import DAY_COLUMN, EVENTS, QUARANTINE, quarantine_row, with_day
from pipelines.tenants import TenantRegistry

log = logging.getLogger(__name__)

PART = "events"
LEDGER_KEY = "_ledger/event_files.parquet"
DAYS_PER_WRITE = 8
"""Event days of the lake read into the staging database at a time (an incremental run's existing rows)."""
ROWS_PER_WRITE = 50_000
"""Staged rows read back and written to the lake at a time (50,000: tens of MB as Arrow): whole days
are written together up to this many rows, so memory does not grow with the rows of a day range.
A day holding more is written alone (a day's partitions are replaced in one commit)."""
STAGING_MEMORY = "256MB"
"""DuckDB's memory limit for the staging database; it spills to the scratch folder beyond it."""
MAX_BAD_LINES_PER_FILE = 1_000
"""Bad lines of one file quarantined one by one (1,000); the rest are counted in one row. A real
Firehose file has a handful at most; a file of garbage would otherwise add a row per line."""
_EVENTS_WITH_DAY = with_day(EVENTS)
_QUARANTINE_WITH_DAY = with_day(QUARANTINE)
LEDGER = pa.schema([("key", pa.string()), ("size", pa.int64()), ("processed_at", pa.timestamp("us", tz="UTC"))])


@dataclass
class EventIngestResult:
    files_listed: int = 0
    files_read: int = 0
    files_failed: int = 0
    """Files whose fetch failed: quarantined, left out of the ledger and tried again next run."""
    files_damaged: int = 0
    """Files read only up to a break (corrupt or truncated gzip, over the size cap)."""
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
        bad_lines = _BadLines()
        failed: set[str] = set()
        # The next batch is fetched, decompressed and split while DuckDB normalizes the current one.
        with ThreadPoolExecutor(max_workers=1) as reader:
            batches = read_batches(store, new_files, Path(scratch))
            upcoming = reader.submit(next, batches, None)
            read: set[str] = set()  # a file whose lines span two batches is in both
            while (batch := upcoming.result()) is not None:
                upcoming = reader.submit(next, batches, None)
                failed |= _stage_batch(con, registry, batch, bad_lines)
                read |= batch.files.keys()
                PROGRESS.info("events: %d of %d new files read", len(read), len(new_files))
        _drop_corrupt(con, bad_lines.corrupt)
        _insert(con, "staged_quarantine", pa.Table.from_pylist(bad_lines.summaries(), schema=_QUARANTINE_WITH_DAY))
        dealt_with = [o for o in new_files if o.key not in failed]
        _quarantine_unattributed(con, new_files)
        result.files_failed = len(failed)
        result.files_damaged = bad_lines.files_damaged
        listed = "select count(*) from staged_quarantine where stage = 'parse' and reason <> 'too_many_bad_lines'"
        result.lines_bad = _count(con, listed) + bad_lines.not_listed
        result.unattributed = _count(con, "select count(*) from staged_quarantine where stage = 'attribute'")
        new_rows = _count(con, "select count(*) from staged_events")
        event_days = _days(con, "staged_events")
        # The arrival days of the files read: a row left by an earlier failed fetch of one of them goes.
        quarantine_days = _days(con, "staged_quarantine") | {o.day for o in dealt_with}
        if full_rebuild:  # also empty the days whose files no longer hold any event
            event_days |= lake.partition_days("events", PART)
            quarantine_days |= lake.partition_days("quarantine", PART)
        else:
            _stage_existing(con, lake, "events", "staged_events", event_days)
            _stage_existing(con, lake, "quarantine", "staged_quarantine", quarantine_days)
        _forget_failed_fetches(con, dealt_with)
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
    kept.update({o.key: o.size for o in dealt_with})
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


class _BadLines:
    """Quarantine rows for the bad lines of the run's files: the first MAX_BAD_LINES_PER_FILE of a
    file (in line order) one by one, the rest of that file's counted into one `too_many_bad_lines` row;
    and the files found corrupt, whose lines are all to be dropped."""

    def __init__(self) -> None:
        self.listed: Counter = Counter()
        self.over: dict[str, tuple[ObjectInfo, list[int], Counter]] = {}
        """Per file over the cap: its info, the first and last line not listed, and their reasons."""
        self.corrupt: set[str] = set()
        self.files_damaged = 0

    @property
    def not_listed(self) -> int:
        """Bad lines counted in `too_many_bad_lines` rows rather than listed."""
        return sum(sum(reasons.values()) for key, (_, _, reasons) in self.over.items() if key not in self.corrupt)

    def rows(self, info: ObjectInfo, bad: Iterable[BadLine]) -> list[dict]:
        """Quarantine rows for `bad`, lines of `info` met after any given before."""
        rows = []
        for line in bad:
            self.files_damaged += line.reason in STREAM_BREAKS
            if line.reason == CORRUPT:  # always listed: it stands for the whole file
                self.corrupt.add(info.key)
            elif self.listed[info.key] < MAX_BAD_LINES_PER_FILE:
                self.listed[info.key] += 1
            else:
                self._count(info, line)
                continue
            rows.append(quarantine_row(PART, info, "parse", line.reason, line.error, line.line_number))
        return rows

    def _count(self, info: ObjectInfo, line: BadLine) -> None:
        _, span, reasons = self.over.setdefault(info.key, (info, [line.line_number, line.line_number], Counter()))
        span[1] = line.line_number
        reasons[line.reason] += 1

    def summaries(self) -> list[dict]:
        """One row per file over the cap (and not corrupt), at its first bad line not listed."""
        rows = []
        for key, (info, (first, last), reasons) in self.over.items():
            if key in self.corrupt:
                continue
            counts = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
            error = (f"{sum(reasons.values())} more bad lines, lines {first} to {last}, not listed one by one "
                     f"(over {MAX_BAD_LINES_PER_FILE} in this file): {counts}")  # fmt: skip
            rows.append(quarantine_row(PART, info, "parse", "too_many_bad_lines", error, first))
        return rows


def _stage_batch(
    con: duckdb.DuckDBPyConnection, registry: TenantRegistry, batch: LineBatch, bad_lines: _BadLines
) -> set[str]:
    """Normalize one batch of lines into the staging tables: DuckDB for the common shape, the Python
    reference normalizer for every other line. Returns the keys of the files whose fetch failed."""
    leftovers = _normalize(con, registry, batch)
    quarantine = [
        quarantine_row(PART, info, "fetch", bad.reason, bad.error, bad.line_number)
        for info, bad in batch.fetch_failures
    ]
    bad_by_file: dict[str, list[BadLine]] = {}
    for info, bad in batch.unread:
        bad_by_file.setdefault(info.key, []).append(bad)
    rows: list[dict] = []
    for key, group in itertools.groupby(leftovers, lambda x: x[0]):
        good, bad = parse_lines([(number, line) for _, number, line in group], registry)
        bad_by_file.setdefault(key, []).extend(bad)
        for row in good:
            row["source_key"] = key
            row[DAY_COLUMN] = row["event_at"].date()
        rows += good
    for key, bad in bad_by_file.items():
        quarantine += bad_lines.rows(batch.files[key], sorted(bad, key=lambda b: b.line_number or 0))
    _insert(con, "staged_events", pa.Table.from_pylist(rows, schema=_EVENTS_WITH_DAY))
    _insert(con, "staged_quarantine", pa.Table.from_pylist(quarantine, schema=_QUARANTINE_WITH_DAY))
    return {info.key for info, _ in batch.fetch_failures}


def _normalize(con: duckdb.DuckDBPyConnection, registry: TenantRegistry, batch: LineBatch) -> list[tuple]:
    """Stage the batch's common-shape lines through DuckDB; the (key, number, line) of the others, in
    order. If DuckDB fails on the batch, every line of it is left to the reference normalizer."""
    try:
        return normalize_batch(con, batch.lines, registry, "staged_events")
    except duckdb.Error as exc:
        log.warning("DuckDB failed on a batch of %d event lines, normalizing them in Python: %s", len(batch.lines), exc)
        return batch.lines.numbered(list(range(len(batch.lines))))


def _quarantine_unattributed(con: duckdb.DuckDBPyConnection, files: list[ObjectInfo]) -> None:
    """Move events with no tenant to the quarantine, with their file and line (all in DuckDB: there
    may be as many as there are events)."""
    rows = [quarantine_row(PART, info, "attribute", "unattributed", "") for info in files]
    con.register("_files", pa.Table.from_pylist(rows, schema=_QUARANTINE_WITH_DAY))
    try:
        con.execute("""
            insert into staged_quarantine by name
            select f.* replace (
                e.line_number as line_number,
                left('no tenant for message ' || e.ses_message_id || ' (' || e.event_type || ')', 4000) as error)
            from staged_events e join _files f using (source_key)
            where e.tenant_id is null""").fetchall()
    finally:
        con.unregister("_files")
    con.execute("delete from staged_events where tenant_id is null").fetchall()


def _drop_corrupt(con: duckdb.DuckDBPyConnection, keys: set[str]) -> None:
    """Drop what corrupt files gave (rows and bad lines alike), leaving each file's one `CORRUPT` row."""
    con.register("_corrupt", pa.table({"source_key": pa.array(sorted(keys), pa.string())}))
    try:
        con.execute("delete from staged_events where source_key in (from _corrupt)").fetchall()
        con.execute("delete from staged_quarantine where source_key in (from _corrupt) and reason <> ?", [CORRUPT])
    finally:
        con.unregister("_corrupt")


def _forget_failed_fetches(con: duckdb.DuckDBPyConnection, files: list[ObjectInfo]) -> None:
    """Drop the `fetch` rows of files read in this run: what they hold now stands in their place."""
    con.register("_read", pa.table({"source_key": pa.array([o.key for o in files], pa.string())}))
    try:
        con.execute("delete from staged_quarantine where stage = 'fetch' and source_key in (from _read)").fetchall()
    finally:
        con.unregister("_read")


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
    """Write the staged rows of `days`, a few days at a time (`write_groups`), in file and line order
    (stable files)."""
    order = "source_key, line_number" + (", recipient" if table == "events" else "")
    counts = dict(con.execute(f"select {DAY_COLUMN}, count(*) from {staged} group by 1").fetchall())
    for group in write_groups({day: counts.get(day, 0) for day in days}, ROWS_PER_WRITE):
        query = f"select * from {staged} where {DAY_COLUMN} in ? order by {order}"
        rows = con.sql(query, params=[group]).to_arrow_table()
        lake.replace_partitions(table, PART, group, rows, day_column=DAY_COLUMN, tenants=tenants)


def write_groups(rows_per_day: dict[date, int], limit: int) -> list[list[date]]:
    """The days in order, cut into runs of consecutive days holding at most `limit` rows together
    (a day over `limit` makes a run of its own); days without rows still get a run, so their
    partitions are emptied."""
    groups: list[list[date]] = []
    rows = 0
    for day in sorted(rows_per_day):
        if not groups or rows + rows_per_day[day] > limit:
            groups.append([])
            rows = 0
        groups[-1].append(day)
        rows += rows_per_day[day]
    return groups


def _insert(con: duckdb.DuckDBPyConnection, staged: str, rows: pa.Table) -> None:
    if rows.num_rows:
        con.execute(f"insert into {staged} by name select * from rows").fetchall()


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    return con.execute(query).fetchall()[0][0]


def _counts(con: duckdb.DuckDBPyConnection, column: str) -> Counter:
    return Counter(dict(con.execute(f"select {column}, count(*) from staged_events group by 1").fetchall()))


def _days(con: duckdb.DuckDBPyConnection, staged: str) -> set[date]:
    return {day for (day,) in con.execute(f"select distinct {DAY_COLUMN} from {staged}").fetchall()}
