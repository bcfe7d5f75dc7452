"""Raw MIME objects → lake rows (messages, recipients, attachments, quarantine).

Every listed object ends in exactly one of `messages` or `quarantine`: a read failure, an
unusable object, a parser crash or a message no tenant claims is quarantined with its stage,
reason and error text, and the run goes on. Objects are partitioned by the UTC day they arrived
in the bucket (S3 LastModified = SES receipt or archive time), which the listing gives without
reading them, so a day can be re-ingested exactly.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lake import DAY_COLUMN, SCHEMAS, Lake, WrittenFile, quarantine_row
from pipelines.message import MimeParseError, ParsedMessage
from pipelines.mime import parse_message, parse_message_file
from pipelines.objects import ObjectInfo, ObjectStore, open_store
from pipelines.subjects import normalize_subject
from pipelines.tenants import Attribution, TenantRegistry

INBOUND = "inbound"
OUTBOUND = "outbound"
LARGE_OBJECT_BYTES = 8 * 1024 * 1024
"""Objects above this are downloaded to a temporary file and parsed as a stream."""
CHUNK_OBJECTS = 500
"""Objects per unit of work handed to a worker process."""
INLINE_BELOW = 400
"""Batches smaller than this are parsed in-process: starting workers would cost more."""
TABLES = ("messages", "recipients", "attachments", "quarantine")
LIVE_PART_PREFIX = "live-"
"""Parts the live hand-off writes (`live-<run>`); a batch run of the same objects supersedes them."""


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


@dataclass
class ObjectRows:
    """Rows of the four tables for one batch of objects, plus counters."""

    messages: list[dict] = field(default_factory=list)
    recipients: list[dict] = field(default_factory=list)
    attachments: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    parsers: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)

    def tables(self) -> dict[str, pa.Table]:
        out = {}
        for name in TABLES:
            schema = SCHEMAS[name].append(pa.field(DAY_COLUMN, pa.date32()))
            out[name] = pa.Table.from_pylist(getattr(self, name), schema=schema)
        return out


def object_day(info: ObjectInfo) -> date:
    return info.last_modified.date()


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
        day = object_day(info)
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
) -> IngestResult:
    """Parse and attribute the objects of `days` and replace their lake partitions.

    With `tenants`, every object of the days is still parsed (the tenant is known only after
    attribution) but only those tenants' partitions are replaced: a one-tenant backfill gives
    that tenant exactly the files a full run gives it, and leaves the other tenants alone."""
    started = time.perf_counter()
    objects = select_objects(store, prefix, days, include_earlier)
    result = IngestResult(direction=direction, objects=len(objects))
    result.bytes_read = sum(o.size for o in objects)
    tables = _parse_all(store, registry, direction, prefix, objects, workers)
    if tenants is not None:
        tables = {name: _only_tenants(table, tenants) for name, table in tables.items()}
    written_days = set(days or ()) | {object_day(o) for o in objects}
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
    preview_columns = ["tenant_id", "sent_at", "from_address", "subject", "attachment_count", "parser"]
    result.preview = messages.select(preview_columns).slice(0, 5).to_pylist()
    result.seconds = time.perf_counter() - started
    return result


def _only_tenants(table: pa.Table, tenants: set[str]) -> pa.Table:
    return table.filter(pc.is_in(table.column("tenant_id"), pa.array(sorted(tenants), pa.string())))


def _parse_all(
    store: ObjectStore,
    registry: TenantRegistry,
    direction: str,
    prefix: str,
    objects: list[ObjectInfo],
    workers: int | None,
) -> dict[str, pa.Table]:
    chunks = [objects[i : i + CHUNK_OBJECTS] for i in range(0, len(objects), CHUNK_OBJECTS)]
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(objects) < INLINE_BELOW:
        results: Iterator[dict[str, pa.Table]] = (
            _process_chunk(store, registry, direction, prefix, chunk) for chunk in chunks
        )
        return _concat(results)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = pool.map(
            _process_chunk_in_worker,
            [(store.url, store.endpoint_url, registry, direction, prefix, chunk) for chunk in chunks],
        )
        return _concat(futures)


def _concat(results: Iterable[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    collected: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
    for tables in results:
        for name in TABLES:
            collected[name].append(tables[name])
    empty = ObjectRows().tables()
    return {name: pa.concat_tables(parts) if parts else empty[name] for name, parts in collected.items()}


def _process_chunk_in_worker(args: tuple) -> dict[str, pa.Table]:
    url, endpoint, registry, direction, prefix, chunk = args
    return _process_chunk(open_store(url, endpoint), registry, direction, prefix, chunk)


def _process_chunk(
    store: ObjectStore, registry: TenantRegistry, direction: str, prefix: str, chunk: list[ObjectInfo]
) -> dict[str, pa.Table]:
    rows = ObjectRows()
    for info in chunk:
        process_object(store, registry, direction, prefix, info, rows)
    return rows.tables()


def process_object(
    store: ObjectStore,
    registry: TenantRegistry,
    direction: str,
    prefix: str,
    info: ObjectInfo,
    rows: ObjectRows,
    notification_recipients: Iterable[str] = (),
) -> tuple[ParsedMessage, Attribution] | None:
    """Add one object's rows to `rows`: message rows, or exactly one quarantine row. Returns the
    parsed message and its tenant when it became message rows."""

    def quarantine(stage: str, reason: str, error: str) -> None:
        rows.quarantine.append(quarantine_row(direction, info, stage, reason, error))

    with tempfile.TemporaryDirectory(prefix="seslake-") if info.size > LARGE_OBJECT_BYTES else nullcontext() as tmp:
        try:
            content = _fetch(store, info, tmp)
        except Exception as exc:  # noqa: BLE001 - any storage failure quarantines this object only
            quarantine("fetch", "read_failed", f"{type(exc).__name__}: {exc}")
            return None
        try:
            message = parse_message_file(content) if isinstance(content, Path) else parse_message(content)
        except MimeParseError as exc:
            quarantine("parse", "empty_object" if info.size == 0 else "not_mail", str(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the run
            detail = "".join(traceback.format_exception_only(exc)).strip()
            quarantine("parse", "parser_error", detail)
            return None

    relative = info.key[len(prefix) :] if info.key.startswith(prefix) else info.key
    if direction == INBOUND:
        attribution = registry.attribute_inbound(message, notification_recipients)
    else:
        archive_tenant = relative.split("/", 1)[0] if "/" in relative else None
        attribution = registry.attribute_outbound(message, archive_tenant)
    if attribution is None:
        quarantine("attribute", "unattributed", _unattributed_detail(message))
        return None
    _add_message_rows(rows, message, info, direction, relative, attribution.tenant_id, attribution.by)
    return message, attribution


def _fetch(store: ObjectStore, info: ObjectInfo, tmp: str | None) -> bytes | Path:
    """The object's bytes, or for a large object a temporary file holding them."""
    if tmp is None:
        return store.get(info.key)
    path = Path(tmp) / "message.eml"
    store.download(info.key, path)
    return path


def _unattributed_detail(message: ParsedMessage) -> str:
    seen = {
        "envelope": message.ses.envelope_recipients,
        "forwarded_to": message.forwarded_to,
        "to_cc": [a.address for a in (*message.to, *message.cc)][:20],
        "from": message.from_.address if message.from_ else None,
        "configuration_set": message.headers.get("x-ses-configuration-set"),
        "message_tags": message.headers.get("x-ses-message-tags"),
    }
    return "no tenant matches any address or tag: " + repr({k: v for k, v in seen.items() if v})


def _add_message_rows(
    rows: ObjectRows,
    message: ParsedMessage,
    info: ObjectInfo,
    direction: str,
    relative_key: str,
    tenant_id: str,
    attributed_by: str,
) -> None:
    ses_message_id = relative_key.rsplit("/", 1)[-1].removesuffix(".eml")
    warnings = list(message.warnings)
    if direction == INBOUND and message.ses.smtp_id and message.ses.smtp_id != ses_message_id:
        warnings.append("smtp_id_mismatch")
    received_at = (message.ses.received_at if direction == INBOUND else None) or info.last_modified
    if message.date is not None:
        sent_at, date_source = message.date, "header"
    elif direction == INBOUND and message.ses.received_at is not None:
        sent_at, date_source = message.ses.received_at, "ses_received"
    else:
        sent_at, date_source = info.last_modified, "object_time"
    day = object_day(info)
    common = {
        "tenant_id": tenant_id,
        "direction": direction,
        "object_key": info.key,
        "ses_message_id": ses_message_id,
        "rfc_message_id": message.message_id,
        DAY_COLUMN: day,
    }
    rows.messages.append(
        {
            **common,
            "in_reply_to": message.in_reply_to,
            "references": message.references,
            "reference_ids": message.reference_ids,
            "thread_index": message.headers.get("thread-index"),
            "subject": message.subject,
            "subject_normalized": normalize_subject(message.subject),
            "from_address": message.from_.address if message.from_ else None,
            "from_name": message.from_.name if message.from_ else None,
            "to_addresses": [a.address for a in message.to],
            "cc_addresses": [a.address for a in message.cc],
            "reply_to_addresses": [a.address for a in message.reply_to],
            "envelope_sender": message.ses.envelope_sender,
            "envelope_recipients": message.ses.envelope_recipients,
            "sent_at": sent_at,
            "date_source": date_source,
            "received_at": received_at,
            "size_bytes": message.size_bytes,
            "chunk_count": message.chunk_count,
            "text_body": message.text_body,
            "body_from_html": message.body_from_html,
            "has_html": message.has_html,
            "attachment_count": len(message.attachments),
            "attachment_bytes": sum(a.size_bytes for a in message.attachments),
            "spam_verdict": message.ses.spam_verdict,
            "virus_verdict": message.ses.virus_verdict,
            "spf_verdict": message.ses.spf_verdict,
            "dkim_verdict": message.ses.dkim_verdict,
            "dmarc_verdict": message.ses.dmarc_verdict,
            "configuration_set": message.headers.get("x-ses-configuration-set"),
            "attributed_by": attributed_by,
            "parser": message.parser,
            "parse_warnings": warnings,
        }
    )
    roles = [("from", [message.from_] if message.from_ else []), ("to", message.to), ("cc", message.cc),
             ("bcc", message.bcc), ("reply_to", message.reply_to)]  # fmt: skip
    for role, addresses in roles:
        for address in addresses:
            rows.recipients.append(
                {**common, "role": role, "address": address.address, "name": address.name, "domain": address.domain}
            )
    for envelope in message.ses.envelope_recipients:
        rows.recipients.append(
            {**common, "role": "envelope", "address": envelope, "name": "", "domain": envelope.rpartition("@")[2]}
        )
    for attachment in message.attachments:
        rows.attachments.append(
            {
                **common,
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "disposition": attachment.disposition,
                "content_id": attachment.content_id,
                "size_bytes": attachment.size_bytes,
                "sha256": attachment.sha256,
                "is_forwarded_message": attachment.is_forwarded_message,
            }
        )
