"""Lake rows of parsed mail: one `messages` row, its `recipients` and `attachments` rows.

`ObjectRows` gathers the rows of the four mail tables for a batch of objects; `add_message_rows` adds
one parsed and attributed message. Every row carries its partition (tenant, arrival day).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from pipelines.mime.message import ParsedMessage
from pipelines.storage.objects import ObjectInfo
from pipelines.storage.schemas import DAY_COLUMN, INBOUND, SCHEMAS, with_day
from pipelines.threads.subjects import normalize_subject

TABLES = ("messages", "recipients", "attachments", "quarantine")


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
        """The rows as Arrow tables of the lake's schemas (raises when a value cannot be stored)."""
        out = {}
        for name in TABLES:
            schema = with_day(SCHEMAS[name])
            out[name] = pa.Table.from_pylist(getattr(self, name), schema=schema)
        return out

    def mark(self) -> tuple[int, ...]:
        """How many rows each table holds now: a point to cut at or go back to."""
        return tuple(len(getattr(self, name)) for name in TABLES)

    def between(self, start: tuple[int, ...], end: tuple[int, ...]) -> ObjectRows:
        """The rows added between two `mark()`s (one object's rows)."""
        return ObjectRows(**{name: getattr(self, name)[s:e] for name, s, e in zip(TABLES, start, end, strict=True)})

    def truncate(self, mark: tuple[int, ...]) -> None:
        """Drop the rows added after `mark` (what a failed object had added)."""
        for name, count in zip(TABLES, mark, strict=True):
            del getattr(self, name)[count:]

    def extend(self, other: ObjectRows) -> None:
        """Append `other`'s rows."""
        for name in TABLES:
            getattr(self, name).extend(getattr(other, name))

    def unstorable(self) -> str | None:
        """None when every row can become Arrow; else which table and column cannot, and why."""
        for name in TABLES:
            rows = getattr(self, name)
            for column in with_day(SCHEMAS[name]):
                try:
                    pa.array([row.get(column.name) for row in rows], type=column.type)
                except Exception as exc:  # noqa: BLE001 - any conversion error is the answer
                    return f"{name}.{column.name}: {type(exc).__name__}: {exc}"
        return None


def add_message_rows(
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
    day = info.day
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
