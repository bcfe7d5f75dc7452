"""The mail of a range of days -> the lake: select the objects, parse them in guarded worker processes
(`pipelines.mail.sandbox`), replace the days' partitions of `messages`, `recipients`, `attachments` and
`quarantine`.

Every listed object ends in exactly one of `messages` or `quarantine`: a read failure, an unusable
object, a parser crash, a parse over its time or memory budget, rows that cannot be stored or a
message no tenant claims is quarantined with its stage, reason and error text, and the run goes on.
Objects are partitioned by the UTC day they arrived in the bucket (S3 LastModified = SES receipt or
archive time), which the listing gives without reading them, so a day can be re-ingested exactly.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.mail.rows import TABLES
from pipelines.mail.sandbox import ParseGuard, objects_to_tables, warm_up
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


def select_objects(
    store: ObjectStore, prefix: str, days: Iterable[date] | None, include_earlier: bool = False
) -> list[ObjectInfo]:
    """Objects under `prefix` that arrived on one of `days` (all when None).

    `include_earlier` also takes everything older than the first day, so the first partition
    of a schedule covers the archive's history and nothing is left outside every partition.
    """
    wanted = set(days) if days is not None else None
    first = min(wanted) if wanted else None
    selected = []
    for info in store.list(prefix):
        day = info.day
        if wanted is None or day in wanted or (include_earlier and first is not None and day < first):
            selected.append(info)
    return selected


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
) -> IngestResult:
    """Parse and attribute the objects of `days` and replace their lake partitions.

    Objects are parsed on `workers` worker processes (one per core when None) under `guard`'s
    budgets (the settings' when None). With `tenants`, every object of the days is still parsed
    (the tenant is known only after attribution) but only those tenants' partitions are replaced:
    a one-tenant backfill gives that tenant exactly the files a full run gives it, and leaves the
    other tenants alone."""
    started = time.perf_counter()
    warm_up()  # the workers' fork server starts while the objects are listed
    objects = select_objects(store, prefix, days, include_earlier)
    result = IngestResult(direction=direction, objects=len(objects))
    result.bytes_read = sum(o.size for o in objects)
    tables = objects_to_tables(store, registry, direction, prefix, objects, guard=guard, workers=workers)
    if tenants is not None:
        tables = {name: _only_tenants(table, tenants) for name, table in tables.items()}
    written_days = set(days or ()) | {o.day for o in objects}
    result.days = sorted(written_days)
    for name in TABLES:
        result.written += lake.replace_partitions(
            name, direction, written_days, tables[name], day_column=DAY_COLUMN, tenants=tenants
        )
    if direction == INBOUND and tenants is None:  # the live path's rows for these objects are now here
        covered = {o.key for o in objects}
        for name in TABLES:
            lake.drop_covered_parts(name, LIVE_PART_PREFIX, written_days, covered)
    messages, quarantine = tables["messages"], tables["quarantine"]
    result.messages = messages.num_rows
    result.quarantined = quarantine.num_rows
    result.per_tenant = Counter(messages.column("tenant_id").to_pylist())
    result.quarantine_reasons = Counter(quarantine.column("reason").to_pylist())
    result.parsers = Counter(messages.column("parser").to_pylist())
    for flags in messages.column("parse_warnings").to_pylist():
        result.warnings.update(flags or ())
    preview_columns = ["tenant_id", "ses_message_id", "received_at", "size_bytes", "attachment_count", "parser"]
    result.preview = messages.select(preview_columns).slice(0, 5).to_pylist()
    result.seconds = time.perf_counter() - started
    return result


def _only_tenants(table: pa.Table, tenants: set[str]) -> pa.Table:
    return table.filter(pc.is_in(table.column("tenant_id"), pa.array(sorted(tenants), pa.string())))
