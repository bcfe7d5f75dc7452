"""Firehose event files → the `events` lake table, incrementally, with a processed-file ledger.

A run reads only files the ledger has not seen (key and size), normalizes them, and rewrites the
event-date partitions they touch: existing rows of those days plus the new ones, deduplicated by
(fingerprint, recipient) keeping the earliest (source key, line). Because the kept copy does not
depend on the order files were read in, incremental runs and a full rebuild give the same lake.
Bad lines and unattributable events go to `quarantine` (part `events`) with file key and line.
"""

from __future__ import annotations

import io
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.events import parse_event_file
from pipelines.lake import DAY_COLUMN, EVENTS, QUARANTINE, Lake, quarantine_row, to_parquet_bytes
from pipelines.objects import ObjectInfo, ObjectStore, open_store
from pipelines.tenants import TenantRegistry

PART = "events"
LEDGER_KEY = "_ledger/event_files.parquet"
FILES_PER_CHUNK = 200
"""Firehose files per unit of work handed to a worker process."""
_EVENTS_WITH_DAY = EVENTS.append(pa.field(DAY_COLUMN, pa.date32()))
_QUARANTINE_WITH_DAY = QUARANTINE.append(pa.field(DAY_COLUMN, pa.date32()))
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
    workers: int | None = None,
) -> EventIngestResult:
    started = time.perf_counter()
    result = EventIngestResult()
    listed = list(store.list(prefix))
    result.files_listed = len(listed)
    ledger = {} if full_rebuild else read_ledger(lake)
    new_files = [o for o in listed if ledger.get(o.key) != o.size]
    result.files_read = len(new_files)

    new_table, q_table = _parse_files_parallel(store, registry, new_files, workers)
    result.lines_bad = pc.sum(pc.equal(q_table.column("stage"), "parse")).as_py() or 0
    result.unattributed = q_table.num_rows - result.lines_bad
    event_rows_days = set(new_table.column(DAY_COLUMN).to_pylist())
    quarantine_rows_days = set(q_table.column(DAY_COLUMN).to_pylist())

    if full_rebuild:  # also empty the days whose files no longer hold any event
        event_days = lake.partition_days("events", PART) | event_rows_days
        quarantine_days = lake.partition_days("quarantine", PART) | quarantine_rows_days
    else:
        event_days, quarantine_days = event_rows_days, quarantine_rows_days

    merged = new_table if full_rebuild else _with_existing(lake, "events", event_days, new_table)
    deduped = _dedupe(merged, ["fingerprint", "recipient"])
    already_stored = merged.num_rows - new_table.num_rows
    result.rows_new = deduped.num_rows - already_stored
    result.rows_duplicate = merged.num_rows - deduped.num_rows
    lake.replace_partitions("events", PART, event_days, deduped, day_column=DAY_COLUMN)

    q_merged = q_table if full_rebuild else _with_existing(lake, "quarantine", quarantine_days, q_table)
    lake.replace_partitions("quarantine", PART, quarantine_days, _dedupe(q_merged, ["source_key", "line_number"]),
                            day_column=DAY_COLUMN)  # fmt: skip

    now = datetime.now(UTC)
    kept = {} if full_rebuild else ledger
    kept.update({o.key: o.size for o in new_files})
    ledger_rows = [{"key": k, "size": s, "processed_at": now} for k, s in sorted(kept.items())]
    lake.store.put(LEDGER_KEY, to_parquet_bytes(pa.Table.from_pylist(ledger_rows, schema=LEDGER)))

    result.days = sorted(event_days)
    result.per_type = Counter(deduped.column("event_type").to_pylist())
    result.per_tenant = Counter(deduped.column("tenant_id").to_pylist())
    result.seconds = time.perf_counter() - started
    return result


def _parse_files_parallel(
    store: ObjectStore, registry: TenantRegistry, files: list[ObjectInfo], workers: int | None
) -> tuple[pa.Table, pa.Table]:
    """Events and quarantine rows of `files`, parsed on worker processes when there are many."""
    chunks = [files[i : i + FILES_PER_CHUNK] for i in range(0, len(files), FILES_PER_CHUNK)]
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(chunks) < 2:
        parts = [_parse_files(store, registry, chunk) for chunk in chunks]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(
                pool.map(_parse_files_in_worker, [(store.url, store.endpoint_url, registry, c) for c in chunks])
            )
    events = pa.concat_tables([p[0] for p in parts]) if parts else _EVENTS_WITH_DAY.empty_table()
    quarantine = pa.concat_tables([p[1] for p in parts]) if parts else _QUARANTINE_WITH_DAY.empty_table()
    return events, quarantine


def _parse_files_in_worker(args: tuple) -> tuple[pa.Table, pa.Table]:
    url, endpoint, registry, files = args
    return _parse_files(open_store(url, endpoint), registry, files)


def _parse_files(store: ObjectStore, registry: TenantRegistry, files: list[ObjectInfo]) -> tuple[pa.Table, pa.Table]:
    events: list[dict] = []
    quarantine: list[dict] = []
    for info in files:
        rows, bad = parse_event_file(store.get(info.key), registry)
        for line in bad:
            quarantine.append(quarantine_row(PART, info, "parse", line.reason, line.error, line.line_number))
        for row in rows:
            if row["tenant_id"] is None:
                error = f"no tenant for message {row['ses_message_id']} ({row['event_type']})"
                quarantine.append(quarantine_row(PART, info, "attribute", "unattributed", error, row["line_number"]))
                continue
            row["source_key"] = info.key
            row[DAY_COLUMN] = row["event_at"].date()
            events.append(row)
    return (
        pa.Table.from_pylist(events, schema=_EVENTS_WITH_DAY),
        pa.Table.from_pylist(quarantine, schema=_QUARANTINE_WITH_DAY),
    )


def _with_existing(lake: Lake, table: str, days: set[date], new: pa.Table) -> pa.Table:
    """`new` plus the rows this part already has for `days`."""
    existing = lake.read_table(table, part=PART, days=days)
    if existing.num_rows == 0:
        return new
    existing = existing.append_column(DAY_COLUMN, existing.column("date")).select(new.schema.names).cast(new.schema)
    return pa.concat_tables([existing, new])


def _dedupe(table: pa.Table, key: list[str]) -> pa.Table:
    """One row per key: the one with the smallest (source_key, line_number), in that order."""
    if table.num_rows == 0:
        return table
    order = pc.sort_indices(table, sort_keys=[("source_key", "ascending"), ("line_number", "ascending")])
    table = table.take(order)
    seen: set[tuple] = set()
    keep = []
    for index, values in enumerate(zip(*(table.column(k).to_pylist() for k in key), strict=True)):
        if values not in seen:
            seen.add(values)
            keep.append(index)
    return table.take(pa.array(keep, pa.int64()))
