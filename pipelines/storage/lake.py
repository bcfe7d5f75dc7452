"""The Parquet lake: atomic, idempotent partition writes and partition-aware reads.

Layout: `<table>/tenant=<id>/date=<YYYY-MM-DD>/<part>.parquet`, where `part` names the writer
(e.g. `inbound`, `outbound`) so that two assets can own disjoint files of one table. Re-running
a writer for a date replaces its files for that date exactly, and removes the ones it no longer
produces; each file appears whole (temp + rename locally, single PUT on S3).

A replacement is all or nothing: the new files are first written under `_staging/<write>/`, then one
journal file `_journal/<write>.json` records the moves and deletes that make them the lake's (the commit
point), then they are carried out and the journal removed. A crash before the journal leaves the old
files; a crash after it is finished by `recover()`, which every write and every read through this class
runs first. So a day's files are always either the old set or the new set.

Every carried-out commit is logged in `_log/` (`changes(since)`): consumers such as the threading and the
warehouse keep a cursor in that log and read only the partitions that changed since.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.storage.objects import ObjectStore
from pipelines.storage.schemas import SCHEMAS, UNATTRIBUTED, as_read

WRITE_THREADS = 4
STAGING_PREFIX = "_staging/"
"""New files are written here first, whole, before a write commits."""
JOURNAL_PREFIX = "_journal/"
"""One small file per committed write: the moves and deletes that make it the lake's."""
STALE_STAGING = timedelta(hours=6)
"""Staged files of a write that never committed are removed once they are this old."""
LOG_PREFIX = "_log/"
"""One entry per carried-out commit, `<UTC time it was carried out>-<write>.json`, naming the files it wrote or
removed."""
LOG_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"

_PARTITION_RE = re.compile(
    r"^(?P<table>[^/]+)/tenant=(?P<tenant>[^/]+)/date=(?P<date>[0-9-]+)/(?P<part>[^/]+)\.parquet$"
)


@dataclass(frozen=True)
class Change:
    """One commit of the lake's log: the partition files it wrote or removed."""

    cursor: str
    files: tuple[str, ...]

    def days(self, table: str) -> set[date]:
        """The days of `table` this commit touched."""
        matches = (_PARTITION_RE.match(key) for key in self.files)
        return {date.fromisoformat(m["date"]) for m in matches if m and m["table"] == table}


@dataclass(frozen=True)
class WrittenFile:
    key: str
    rows: int
    bytes: int


def _staged(token: str, key: str) -> str:
    """Where a write stages a file before it commits: outside every table's folder, so no reader sees it."""
    return f"{STAGING_PREFIX}{token}/{key}"


def partition_key(table: str, tenant: str, day: date, part: str) -> str:
    return f"{table}/tenant={tenant}/date={day.isoformat()}/{part}.parquet"


def to_parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


class Lake:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @property
    def url(self) -> str:
        return self.store.url

    def replace_partitions(
        self,
        table: str,
        part: str,
        days: Iterable[date],
        rows: pa.Table,
        *,
        day_column: str,
        tenants: set[str] | None = None,
    ) -> list[WrittenFile]:
        """Write `rows` of `table` as this part's files for `days`, replacing what was there.

        Each row carries its partition in `tenant_id` (null → UNATTRIBUTED) and in `day_column`
        (a date, not stored). Files of this part for the given days that the new rows no longer
        fill are deleted, so a re-run leaves exactly what the run produced. With `tenants`, only
        those tenants' files are written or deleted (a one-tenant backfill); other rows are ignored.
        """
        schema = SCHEMAS[table]
        days = set(days)
        if tenants is not None:
            scoped = pc.is_in(pc.fill_null(rows.column("tenant_id"), UNATTRIBUTED), pa.array(sorted(tenants)))
            rows = rows.filter(scoped)
        tenants_of_rows = pc.fill_null(rows.column("tenant_id"), UNATTRIBUTED)
        order = pc.sort_indices(
            pa.table({"tenant": tenants_of_rows, "day": rows.column(day_column)}),
            sort_keys=[("tenant", "ascending"), ("day", "ascending")],
        )
        ordered = rows.take(order).select(schema.names).cast(schema)
        groups = list(
            zip(tenants_of_rows.take(order).to_pylist(), rows.column(day_column).take(order).to_pylist(), strict=True)
        )
        spans: list[tuple[str, date, int, int]] = []
        start = 0
        while start < len(groups):
            end = start
            while end < len(groups) and groups[end] == groups[start]:
                end += 1
            tenant, day = groups[start]
            if day not in days:
                raise ValueError(f"row for {day} outside the partitions being written: {sorted(days)}")
            spans.append((tenant, day, start, end))
            start = end

        self.recover()
        token = uuid.uuid4().hex

        def write(span: tuple[str, date, int, int]) -> WrittenFile:
            tenant, day, first, end = span
            data = to_parquet_bytes(ordered.slice(first, end - first))
            key = partition_key(table, tenant, day, part)
            self.store.put(_staged(token, key), data)
            return WrittenFile(key, end - first, len(data))

        # Parquet encoding and S3 PUTs release the GIL: a few threads overlap many small files.
        with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
            written = list(pool.map(write, spans))
        keep = {w.key for w in written}
        obsolete = []
        for existing in self.partition_files(table, days):
            match = _PARTITION_RE.match(existing)
            if not match or match["part"] != part or existing in keep:
                continue
            if date.fromisoformat(match["date"]) in days and (tenants is None or match["tenant"] in tenants):
                obsolete.append(existing)
        self._commit(token, [w.key for w in written], obsolete)
        return written

    def _commit(self, token: str, keys: list[str], obsolete: list[str]) -> None:
        """Make a staged write the lake's: record the plan (the commit point), then carry it out."""
        plan = {"token": token, "moves": [[_staged(token, key), key] for key in keys], "deletes": obsolete}
        journal = f"{JOURNAL_PREFIX}{token}.json"
        self.store.put(journal, json.dumps(plan).encode())
        self._carry_out(journal, plan)

    def _carry_out(self, journal: str, plan: dict) -> None:
        for staged, key in plan["moves"]:
            self.store.move(staged, key)
        for key in plan["deletes"]:
            self.store.delete(key)
        changed = sorted({key for _, key in plan["moves"]} | set(plan["deletes"]))
        # named when the files are in place (not when planned), so a slow or recovered write is logged after
        # the commits that finished before it, and a consumer's cursor never passes a commit not yet logged
        logged_at = datetime.now(UTC).strftime(LOG_TIME_FORMAT)
        self.store.put(f"{LOG_PREFIX}{logged_at}-{plan['token']}.json", json.dumps({"files": changed}).encode())
        self.store.delete(journal)

    def changes(self, since: str | None = None) -> tuple[list[Change], str | None]:
        """The commits logged after the cursor `since` (all of them for None), oldest first, and the cursor
        to continue from: how a consumer finds what changed without reading the lake."""
        entries: list[Change] = []
        cursor = since
        for info in self.store.list(LOG_PREFIX, start_after=since):
            if not info.key.endswith(".json"):
                continue
            files = json.loads(self.store.get(info.key))["files"]
            entries.append(Change(info.key, tuple(files)))
            cursor = info.key
        return entries, cursor

    def recover(self, stale_after: timedelta = STALE_STAGING) -> int:
        """Finish every write that was committed but not carried out (a crash between the two), and remove
        staged files of writes that never committed once they are older than `stale_after` (a write in
        progress elsewhere keeps its own). Returns the number of writes finished.

        Runs of different days write at once (one run per day of a backfill), so a journal found here may be one
        its writer is carrying out at this moment. Finishing it twice is harmless: a move whose staged file is
        gone was made by the other (`ObjectStore.move` returns False), deletes of missing files do nothing, the
        log may name the commit twice (a consumer reads those days again), and a journal removed since the
        listing is skipped."""
        finished = 0
        for info in list(self.store.list(JOURNAL_PREFIX)):
            if not info.key.endswith(".json"):
                continue
            try:
                plan = json.loads(self.store.get(info.key))
            except Exception:
                if self.store.info(info.key) is None:  # its writer (another run) finished it since the listing
                    continue
                raise
            self._carry_out(info.key, plan)
            finished += 1
        cutoff = datetime.now(UTC) - stale_after
        for info in list(self.store.list(STAGING_PREFIX)):
            if info.last_modified < cutoff:
                self.store.delete(info.key)
        return finished

    def drop_covered_parts(self, table: str, part_prefix: str, days: set[date], covered_keys: set[str]) -> int:
        """Delete the files of parts named `part_prefix…` on `days` whose every row's object is among
        `covered_keys`: the live path's files, once a batch run has written the same objects."""
        key_column = "source_key" if table == "quarantine" else "object_key"
        dropped: list[str] = []
        for key in self.partition_files(table, days):
            match = _PARTITION_RE.match(key)
            if not match or not match["part"].startswith(part_prefix) or date.fromisoformat(match["date"]) not in days:
                continue
            keys = pq.read_table(io.BytesIO(self.store.get(key)), columns=[key_column]).column(key_column).to_pylist()
            if set(keys) <= covered_keys:
                dropped.append(key)
        if dropped:
            self._commit(uuid.uuid4().hex, [], dropped)
        return len(dropped)

    def object_keys(self, days: set[date]) -> set[str]:
        """The objects the lake holds on `days`: `messages.object_key` and `quarantine.source_key`."""
        keys: set[str] = set()
        for table, column in (("messages", "object_key"), ("quarantine", "source_key")):
            keys.update(self.read_table(table, days=days, columns=[column]).column(column).to_pylist())
        return keys

    def partition_days(self, table: str, part: str) -> set[date]:
        """The days that have a file of this part."""
        matches = (_PARTITION_RE.match(key) for key in self.partition_files(table))
        return {date.fromisoformat(m["date"]) for m in matches if m and m["part"] == part}

    def partition_files(self, table: str, days: Iterable[date] | None = None) -> list[str]:
        """The table's Parquet files, in key order; with `days`, only those days' files, found by listing each
        tenant's folder of each day (the tenants from a delimited listing), so the cost follows the days asked
        for and not the table's size."""
        if days is None:
            return [info.key for info in self.store.list(f"{table}/") if info.key.endswith(".parquet")]
        wanted = sorted(set(days))
        keys: list[str] = []
        for tenant_folder in self.store.children(f"{table}/"):
            for day in wanted:
                prefix = f"{table}/{tenant_folder}/date={day.isoformat()}/"
                keys.extend(info.key for info in self.store.list(prefix) if info.key.endswith(".parquet"))
        return sorted(keys)

    def read_table(
        self, table: str, part: str | None = None, days: set[date] | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        """The table (or one part's files, or some days; or some columns) with `tenant` and `date`
        partition columns."""
        schema = SCHEMAS[table] if columns is None else pa.schema([SCHEMAS[table].field(c) for c in columns])
        self.recover()
        pieces = []
        for key in self.partition_files(table, days):
            match = _PARTITION_RE.match(key)
            if not match or (part and match["part"] != part):
                continue
            if days is not None and date.fromisoformat(match["date"]) not in days:
                continue
            piece = pq.read_table(io.BytesIO(self.store.get(key)), schema=schema, columns=schema.names)
            n = piece.num_rows
            piece = piece.append_column("tenant", pa.array([match["tenant"]] * n, pa.string()))
            piece = piece.append_column("date", pa.array([date.fromisoformat(match["date"])] * n, pa.date32()))
            pieces.append(piece)
        if not pieces:
            return as_read(schema).empty_table()
        return pa.concat_tables(pieces)
