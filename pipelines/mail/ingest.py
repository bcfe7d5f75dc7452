"""The mail of a range of days -> the lake: select each day's objects (`pipelines.mail.selection`: the
arrivals index or a listing), parse them in guarded worker processes (`pipelines.mail.sandbox`), replace
the day's partitions of `messages`, `recipients`, `attachments` and `quarantine`, then the next day.

Every listed object ends in exactly one of `messages` or `quarantine`: a read failure, an unusable
object, a parser crash, a parse over its time or memory budget, rows that cannot be stored or a
message no tenant claims is quarantined with its stage, reason and error text, and the run goes on.
Objects are partitioned by the UTC day they arrived in the bucket (S3 LastModified = SES receipt or
archive time), which the listing gives without reading them, so a day can be re-ingested exactly; a
range of days gives the same files as one run per day.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.mail.rows import TABLES
from pipelines.mail.sandbox import ParseGuard, days_to_tables, warm_up
from pipelines.mail.selection import select_days
from pipelines.progress import PROGRESS
from pipelines.storage.lake import Lake, WrittenFile
from pipelines.storage.objects import ObjectInfo, ObjectStore
from pipelines.storage.schemas import DAY_COLUMN, INBOUND, LIVE_PART_PREFIX
from pipelines.tenants import TenantRegistry


@dataclass
class IngestResult:
    direction: str
    objects: int = 0
    messages: int = 0
    quarantined: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    days: list[date] = field(default_factory=list)
    per_tenant: Counter = field(default_factory=Counter)
    quarantine_reasons: Counter = field(default_factory=Counter)
    parsers: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)
    written: list[WrittenFile] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)
    found_by: Counter = field(default_factory=Counter)
    """Days by how their objects were found (`pipelines.mail.selection`: index, listing, ranged listing)."""


PREVIEW_ROWS = 5
WRITE_DAYS = 31
WRITE_BYTES = 64 * 2**20
"""Days are written together (one replacement per table) until this many days or this much Arrow data is
held; a day over the size is written alone. A batch is written by a thread while the workers parse the next
one, so memory holds at most two such batches plus the tasks in flight, and a year's backfill commits a
dozen times per table rather than 365."""


def ingest_mime(
    store: ObjectStore,
    lake: Lake,
    registry: TenantRegistry,
    direction: str,
    prefix: str,
    days: Iterable[date] | None = None,
    *,
    include_earlier: bool = False,
    workers: int | None = None,
    tenants: set[str] | None = None,
    guard: ParseGuard | None = None,
    relist: bool = False,
) -> IngestResult:
    """Parse and attribute the objects of `days` (all days when None) and replace their lake partitions.

    `include_earlier` also takes every day older than the first, so the first partition of a schedule
    covers the archive's history. The objects of each day come from the arrivals index or a listing
    (`pipelines.mail.selection`; `relist` forces a full listing that rewrites the index). Days are
    processed in order and written a few at a time (at most `WRITE_DAYS` days or `WRITE_BYTES` of rows
    held, or one larger day), so memory does not grow with the number of days. Objects are parsed on
    `workers` worker processes (one per core when None) under `guard`'s budgets (the settings' when None). With
    `tenants`, every object of the days is still parsed (the tenant is known only after attribution) but
    only those tenants' partitions are replaced: a one-tenant backfill gives that tenant exactly the
    files a full run gives it, and leaves the other tenants alone."""
    started = time.perf_counter()
    warm_up()  # the workers' fork server starts while the objects are selected
    selection = select_days(store, lake, direction, prefix, days, include_earlier=include_earlier, relist=relist)
    result = IngestResult(direction=direction, days=list(selection.days))
    result.found_by = Counter(selection.found_by.values())
    covered: dict[date, set[str]] = {}

    def counted(pairs: Iterable[tuple[date, list[ObjectInfo]]]) -> Iterable[tuple[date, list[ObjectInfo]]]:
        for day, objects in pairs:
            result.objects += len(objects)
            result.bytes_read += sum(o.size for o in objects)
            covered[day] = {o.key for o in objects}
            yield day, objects

    day_tables = days_to_tables(
        store, registry, direction, prefix, counted(selection.by_day()), guard=guard, workers=workers
    )
    held: list[tuple[date, dict[str, pa.Table]]] = []
    writing: Future | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seslake-lake-write") as writer:

        def write_held() -> Future:
            """Hand the days held to the writer thread once it has finished the previous ones: the workers
            keep parsing while a batch is written, and at most two batches are held."""
            if writing is not None:
                writing.result()
            keys = {day: covered.pop(day) for day, _ in held}
            return writer.submit(_write, lake, direction, held, keys, tenants, result)

        for done, (day, tables) in enumerate(day_tables, start=1):
            if tenants is not None:
                tables = {name: _only_tenants(table, tenants) for name, table in tables.items()}
            before = result.messages + result.quarantined
            _count(result, tables)
            if result.messages + result.quarantined > before or done == len(result.days):  # quiet on empty days
                PROGRESS.info(
                    "%s mail: %s parsed (day %d of %d; %d messages and %d quarantined so far)",
                    direction, day, done, len(result.days), result.messages, result.quarantined,
                )  # fmt: skip
            held.append((day, tables))
            if len(held) >= WRITE_DAYS or sum(_nbytes(t) for _, t in held) >= WRITE_BYTES:
                writing, held = write_held(), []
        if held:
            writing = write_held()
        if writing is not None:
            writing.result()
    result.seconds = time.perf_counter() - started
    return result


def _write(
    lake: Lake,
    direction: str,
    held: list[tuple[date, dict[str, pa.Table]]],
    covered: dict[date, set[str]],
    tenants: set[str] | None,
    result: IngestResult,
) -> None:
    """Replace the partitions of the days held (consecutive days of the run) with their rows."""
    days = {day for day, _ in held}
    for name in TABLES:
        rows = pa.concat_tables([tables[name] for _, tables in held])
        result.written += lake.replace_partitions(name, direction, days, rows, day_column=DAY_COLUMN, tenants=tenants)
    if direction == INBOUND and tenants is None:  # the live path's rows for these objects are now here
        keys = set().union(*covered.values())
        for name in TABLES:
            lake.drop_covered_parts(name, LIVE_PART_PREFIX, days, keys)


def _nbytes(tables: dict[str, pa.Table]) -> int:
    return sum(table.nbytes for table in tables.values())


def _count(result: IngestResult, tables: dict[str, pa.Table]) -> None:
    """Add one day's tables to the run's counters and preview."""
    messages, quarantine = tables["messages"], tables["quarantine"]
    result.messages += messages.num_rows
    result.quarantined += quarantine.num_rows
    result.per_tenant.update(messages.column("tenant_id").to_pylist())
    result.quarantine_reasons.update(quarantine.column("reason").to_pylist())
    result.parsers.update(messages.column("parser").to_pylist())
    for flags in messages.column("parse_warnings").to_pylist():
        result.warnings.update(flags or ())
    if len(result.preview) < PREVIEW_ROWS:
        preview_columns = ["tenant_id", "ses_message_id", "received_at", "size_bytes", "attachment_count", "parser"]
        result.preview += messages.select(preview_columns).slice(0, PREVIEW_ROWS - len(result.preview)).to_pylist()


def _only_tenants(table: pa.Table, tenants: set[str]) -> pa.Table:
    return table.filter(pc.is_in(table.column("tenant_id"), pa.array(sorted(tenants), pa.string())))
