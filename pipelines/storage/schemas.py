"""The lake's tables: their Arrow schemas, and the constants every stage shares about them.

Every table is Hive-partitioned `tenant=<id>/date=<YYYY-MM-DD>`; rows on their way to the writer carry
their partition day in the in-memory column DAY_COLUMN, and readers get it back as `tenant` and `date`.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.storage.objects import ObjectInfo

DAY_COLUMN = "_day"
"""The in-memory column holding each row's partition day; not stored in the files."""
UNATTRIBUTED = "_unattributed"
"""Partition value of quarantined records that have no tenant."""

INBOUND = "inbound"
OUTBOUND = "outbound"
"""`messages.direction`: mail SES received, and mail the reply service sent and archived."""
LIVE_PART_PREFIX = "live-"
"""Parts the live hand-off writes (`live-<run>`); a batch run of the same objects supersedes them."""

_ts = pa.timestamp("us", tz="UTC")
_strings = pa.list_(pa.string())

MESSAGES = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("direction", pa.string()),
        ("object_key", pa.string()),
        ("ses_message_id", pa.string()),
        ("rfc_message_id", pa.string()),
        ("in_reply_to", pa.string()),
        ("references", pa.string()),
        ("reference_ids", _strings),
        ("thread_index", pa.string()),
        ("subject", pa.string()),
        ("subject_normalized", pa.string()),
        ("from_address", pa.string()),
        ("from_name", pa.string()),
        ("to_addresses", _strings),
        ("cc_addresses", _strings),
        ("reply_to_addresses", _strings),
        ("envelope_sender", pa.string()),
        ("envelope_recipients", _strings),
        ("sent_at", _ts),
        ("date_source", pa.string()),
        ("received_at", _ts),
        ("size_bytes", pa.int64()),
        ("chunk_count", pa.int32()),
        ("text_body", pa.string()),
        ("body_from_html", pa.bool_()),
        ("has_html", pa.bool_()),
        ("attachment_count", pa.int32()),
        ("attachment_bytes", pa.int64()),
        ("spam_verdict", pa.string()),
        ("virus_verdict", pa.string()),
        ("spf_verdict", pa.string()),
        ("dkim_verdict", pa.string()),
        ("dmarc_verdict", pa.string()),
        ("configuration_set", pa.string()),
        ("attributed_by", pa.string()),
        ("parser", pa.string()),
        ("parse_warnings", _strings),
    ]
)

RECIPIENTS = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("direction", pa.string()),
        ("object_key", pa.string()),
        ("ses_message_id", pa.string()),
        ("rfc_message_id", pa.string()),
        ("role", pa.string()),
        ("address", pa.string()),
        ("name", pa.string()),
        ("domain", pa.string()),
    ]
)

ATTACHMENTS = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("direction", pa.string()),
        ("object_key", pa.string()),
        ("ses_message_id", pa.string()),
        ("rfc_message_id", pa.string()),
        ("filename", pa.string()),
        ("content_type", pa.string()),
        ("disposition", pa.string()),
        ("content_id", pa.string()),
        ("size_bytes", pa.int64()),
        ("sha256", pa.string()),
        ("is_forwarded_message", pa.bool_()),
    ]
)

QUARANTINE = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("source", pa.string()),
        ("source_key", pa.string()),
        ("line_number", pa.int64()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("error", pa.string()),
        ("size_bytes", pa.int64()),
        ("first_seen_at", _ts),
    ]
)

EVENTS = pa.schema(
    [
        ("fingerprint", pa.string()),
        ("event_type", pa.string()),
        ("ses_message_id", pa.string()),
        ("tenant_id", pa.string()),
        ("attributed_by", pa.string()),
        ("recipient", pa.string()),
        ("event_at", _ts),
        ("sent_at", _ts),
        ("configuration_set", pa.string()),
        ("from_domain", pa.string()),
        ("campaign", pa.string()),
        ("bounce_type", pa.string()),
        ("bounce_subtype", pa.string()),
        ("diagnostic_code", pa.string()),
        ("complaint_feedback_type", pa.string()),
        ("delay_type", pa.string()),
        ("link", pa.string()),
        ("link_tags", pa.string()),
        ("ip", pa.string()),
        ("user_agent", pa.string()),
        ("agent_class", pa.string()),
        ("feedback_id", pa.string()),
        ("source_key", pa.string()),
        ("line_number", pa.int64()),
    ]
)

MESSAGE_THREADS = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("direction", pa.string()),
        ("object_key", pa.string()),
        ("ses_message_id", pa.string()),
        ("rfc_message_id", pa.string()),
        ("thread_id", pa.string()),
        ("reply_in_reply_to", pa.string()),
        ("reply_references", pa.string()),
        ("reply_subject", pa.string()),
        ("threaded_at", _ts),
    ]
)
"""The thread each message was given when it was threaded, and the headers an answer to it carries."""

THREAD_RENAMES = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("old_thread_id", pa.string()),
        ("thread_id", pa.string()),
        ("renamed_at", _ts),
    ]
)
"""Threads joined into an older one by later mail: `old_thread_id` now reads `thread_id`."""

PARTITION_COLUMNS = (pa.field("tenant", pa.string()), pa.field("date", pa.date32()))
"""The Hive partition columns a reader of the lake gets beside each table's own columns."""

SCHEMAS: dict[str, pa.Schema] = {
    "events": EVENTS,
    "messages": MESSAGES,
    "recipients": RECIPIENTS,
    "attachments": ATTACHMENTS,
    "quarantine": QUARANTINE,
    "message_threads": MESSAGE_THREADS,
    "thread_renames": THREAD_RENAMES,
}


def quarantine_row(
    source: str, info: ObjectInfo, stage: str, reason: str, error: str, line_number: int | None = None
) -> dict:
    """A `quarantine` row for an object (or one line of it), partitioned by the object's arrival day
    under the `_day` key that `Lake.replace_partitions` is given as `day_column`."""
    return {
        "tenant_id": None,
        "source": source,
        "source_key": info.key,
        "line_number": line_number,
        "stage": stage,
        "reason": reason,
        "error": error[:4000],
        "size_bytes": info.size,
        "first_seen_at": info.last_modified,
        DAY_COLUMN: info.day,
    }


def with_day(schema: pa.Schema) -> pa.Schema:
    """`schema` plus DAY_COLUMN: rows on their way to `Lake.replace_partitions`."""
    return schema.append(pa.field(DAY_COLUMN, pa.date32()))


def as_read(schema: pa.Schema) -> pa.Schema:
    """`schema` plus the partition columns, as a reader of the lake sees the table."""
    for column in PARTITION_COLUMNS:
        schema = schema.append(column)
    return schema
