"""Threads for the lake: every message of `messages` gets a `thread_id`, incrementally.

A run threads only the messages not yet in `message_threads`, against the threading state saved by
the previous run (`_state/threads/*.parquet` in the lake), and appends their rows: thread id and the
In-Reply-To / References / subject an answer to the message should carry. Thread ids never change
for mail already threaded; when new mail joins two existing threads, the older thread's id survives
and the other id is recorded in `thread_renames` (the warehouse reads ids through it).

Threading follows arrival order, so the run falls back to threading everything from scratch (the
same ids, since they are derived from each thread's first message) when history changed under it:
a threaded message no longer in the lake, new mail that arrived before mail already threaded, a
saved state that does not match `message_threads` (a run that died between the two writes: rows
are written first, then the state, then `_state/threads/meta.parquet` saying how many messages it
covers), or a state saved under other rules (another `STATE_VERSION`).

Tracking addresses count only when their keyed token verifies with the tracking secret: both entry
points take `tracking_secret` (`Settings.tracking_secret`; '' = the development key, see
`pipelines.threads.tracking`).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.storage.lake import Lake, to_parquet_bytes
from pipelines.storage.schemas import DAY_COLUMN, INBOUND, MESSAGE_THREADS, OUTBOUND, THREAD_RENAMES, with_day
from pipelines.threads.engine import StateVersionError, ThreadColumns, ThreadState
from pipelines.threads.inputs import LAKE_COLUMNS, columns_from_lake
from pipelines.threads.reply import ReplyHeaders

STATE_PREFIX = "_state/threads/"
KEY_COLUMNS = ["direction", "object_key"]


@dataclass
class ThreadLakeResult:
    messages_threaded: int = 0
    threads_touched: int = 0
    threads_renamed: int = 0
    full_rebuild: bool = False
    reason: str = ""
    seconds: float = 0.0


def thread_lake(
    lake: Lake, *, full_rebuild: bool = False, inbound_domains: list[str] | None = None, tracking_secret: str = ""
) -> ThreadLakeResult:
    """Thread the messages of `messages` not yet in `message_threads` against the saved state (or all of
    them again, see the module docstring), append their rows and save the state."""
    started = time.perf_counter()
    result = ThreadLakeResult()
    messages = lake.read_table("messages", columns=list(LAKE_COLUMNS))
    threaded = lake.read_table("message_threads", columns=KEY_COLUMNS)
    saved, unusable = (None, "") if full_rebuild else _saved_state(lake)
    new = _rows_not_in(messages, threaded)
    columns = columns_from_lake(new, inbound_domains, tracking_secret)
    if full_rebuild:
        reason = "requested"
    elif saved is None:
        reason = unusable or "no saved state"
    elif saved[1]["messages"] != threaded.num_rows:
        reason = "saved state does not match message_threads"
    elif threaded.num_rows + new.num_rows != messages.num_rows:
        reason = "threaded messages left the lake"
    elif min(_arrivals(columns), default=float("inf")) < saved[1]["latest_arrival"]:
        reason = "new mail arrived before mail already threaded"
    else:
        reason = ""
    if reason:
        result.full_rebuild, result.reason = True, reason
        state, new, latest = ThreadState(), messages, float("-inf")
        columns = columns_from_lake(new, inbound_domains, tracking_secret)
    else:
        state, meta = saved
        latest = meta["latest_arrival"]

    threading = state.thread(columns)
    now = datetime.now(UTC)
    rows = _thread_rows(new, threading.thread_ids, state, now)
    renames = [
        {"tenant_id": _tenant_of(old, rows), "old_thread_id": old, "thread_id": kept, "renamed_at": now}
        for old, kept in sorted(threading.renamed.items())
    ]
    _write(lake, rows, renames, replace_all=result.full_rebuild)
    latest = max([latest, *_arrivals(columns)])
    total = rows.num_rows if result.full_rebuild else threaded.num_rows + rows.num_rows
    _save_state(lake, state, {"messages": total, "latest_arrival": latest})
    result.messages_threaded = rows.num_rows
    result.threads_touched = len(set(threading.thread_ids))
    result.threads_renamed = len(renames)
    result.seconds = time.perf_counter() - started
    return result


def _rows_not_in(messages: pa.Table, threaded: pa.Table) -> pa.Table:
    """Messages whose (direction, object_key) has no thread row yet."""
    if threaded.num_rows == 0:
        return messages
    done = pc.binary_join_element_wise(threaded["direction"], threaded["object_key"], "\n")
    keys = pc.binary_join_element_wise(messages["direction"], messages["object_key"], "\n")
    return messages.filter(pc.invert(pc.is_in(keys, done)))


def _arrivals(columns: ThreadColumns) -> list[float]:
    """Arrival times (epoch seconds) as threading orders them: receipt or archive time, else Date."""
    return [t for t in columns.arrived_at if t is not None]


def _thread_rows(messages: pa.Table, thread_ids: list[str], state: ThreadState, now: datetime) -> pa.Table:
    """`message_threads` rows (plus the partition day) for `messages`, in their order."""
    columns = {name: messages[name].to_pylist() for name in ("tenant_id", "direction", "object_key",
               "ses_message_id", "rfc_message_id", "reference_ids", "subject", "in_reply_to", "thread_index",
               "from_address", "to_addresses", "cc_addresses", "date")}  # fmt: skip
    rows = []
    for i, thread_id in enumerate(thread_ids):
        outbound = columns["direction"][i] == OUTBOUND
        addresses = [a for a in [columns["from_address"][i], *(columns["to_addresses"][i] or []),
                                 *(columns["cc_addresses"][i] or [])] if a]  # fmt: skip
        reply = state.reply_headers(
            columns["tenant_id"][i] or "",
            columns["rfc_message_id"][i],
            columns["reference_ids"][i] or (),
            columns["subject"][i],
            ses_message_id=columns["ses_message_id"][i] if outbound else None,
            in_reply_to=columns["in_reply_to"][i],
            addresses=addresses,
            thread_index=columns["thread_index"][i],
        )
        rows.append({
            "tenant_id": columns["tenant_id"][i],
            "direction": columns["direction"][i],
            "object_key": columns["object_key"][i],
            "ses_message_id": columns["ses_message_id"][i],
            "rfc_message_id": columns["rfc_message_id"][i],
            "thread_id": thread_id,
            "reply_in_reply_to": reply.in_reply_to if reply else None,
            "reply_references": reply.references if reply else None,
            "reply_subject": reply.subject if reply else None,
            "threaded_at": now,
            DAY_COLUMN: columns["date"][i],
        })  # fmt: skip
    return pa.Table.from_pylist(rows, schema=with_day(MESSAGE_THREADS))


def _tenant_of(thread_id: str, rows: pa.Table) -> str | None:
    matches = rows.filter(pc.equal(rows["thread_id"], thread_id))
    return matches["tenant_id"][0].as_py() if matches.num_rows else None


def _write(lake: Lake, rows: pa.Table, renames: list[dict], *, replace_all: bool) -> None:
    """Append `rows` to `message_threads` (partitioned like `messages`) and `renames` to
    `thread_renames`; with `replace_all`, the new rows are the whole table."""
    for direction in (INBOUND, OUTBOUND):
        part = rows.filter(pc.equal(rows["direction"], direction))
        days = set(part[DAY_COLUMN].to_pylist())
        if replace_all:
            days |= lake.partition_days("message_threads", direction)
        else:
            part = _with_existing(lake, "message_threads", direction, days, part)
        lake.replace_partitions("message_threads", direction, days, part, day_column=DAY_COLUMN)
    renamed = pa.Table.from_pylist(
        [{**r, DAY_COLUMN: r["renamed_at"].date()} for r in renames],
        schema=with_day(THREAD_RENAMES),
    )
    days = set(renamed[DAY_COLUMN].to_pylist())
    if replace_all:
        days |= lake.partition_days("thread_renames", "renames")
    else:
        renamed = _with_existing(lake, "thread_renames", "renames", days, renamed)
    lake.replace_partitions("thread_renames", "renames", days, renamed, day_column=DAY_COLUMN)


def _with_existing(lake: Lake, table: str, part: str, days: set, new: pa.Table) -> pa.Table:
    existing = lake.read_table(table, part=part, days=days)
    if existing.num_rows == 0:
        return new
    existing = existing.append_column(DAY_COLUMN, existing["date"]).select(new.schema.names).cast(new.schema)
    return pa.concat_tables([existing, new])


META = "meta"


def _saved_state(lake: Lake) -> tuple[tuple[ThreadState, dict] | None, str]:
    """`_load_state`, or None and why a saved state cannot be used (another version), if so."""
    try:
        return _load_state(lake), ""
    except StateVersionError as exc:
        return None, str(exc)


def _load_state(lake: Lake) -> tuple[ThreadState, dict] | None:
    """The saved state and its meta (messages covered, latest arrival), or None when there is none."""
    keys = [info.key for info in lake.store.list(STATE_PREFIX) if info.key.endswith(".parquet")]
    tables = {key.removeprefix(STATE_PREFIX).removesuffix(".parquet"): pq.read_table(io.BytesIO(lake.store.get(key)))
              for key in keys}  # fmt: skip
    if META not in tables:
        return None
    meta = tables.pop(META).to_pylist()[0]
    return ThreadState.from_tables(tables), meta


def _save_state(lake: Lake, state: ThreadState, meta: dict) -> None:
    """The state's tables, then the meta that vouches for them."""
    for name, table in state.to_tables().items():
        lake.store.put(f"{STATE_PREFIX}{name}.parquet", to_parquet_bytes(table))
    meta_table = pa.table({"messages": [meta["messages"]], "latest_arrival": [meta["latest_arrival"]]},
                          schema=pa.schema([("messages", pa.int64()), ("latest_arrival", pa.float64())]))  # fmt: skip
    lake.store.put(f"{STATE_PREFIX}{META}.parquet", to_parquet_bytes(meta_table))


def thread_for(
    lake: Lake, object_keys: list[str], inbound_domains: list[str] | None = None, *, tracking_secret: str = ""
) -> dict[str, tuple[str, ReplyHeaders | None]]:
    """Thread id and reply headers (`in_reply_to`, `references`, `subject`) for messages in the lake,
    saving nothing. Messages already threaded keep their row (their id read through later joins);
    the others are threaded on top of the saved state with every message not yet threaded, in
    arrival order, as the next `thread_lake` run will take them, so the live path hands off the id
    that run keeps."""
    if not object_keys:
        return {}
    wanted = set(object_keys)
    found: dict[str, tuple[str, ReplyHeaders | None]] = {}
    threaded = lake.read_table("message_threads")
    renames = dict(zip(*(lake.read_table("thread_renames")[c].to_pylist() for c in ("old_thread_id", "thread_id")),
                       strict=True))  # fmt: skip
    for row in threaded.filter(pc.is_in(threaded["object_key"], pa.array(sorted(wanted)))).to_pylist():
        thread_id = row["thread_id"]
        while thread_id in renames:
            thread_id = renames[thread_id]
        found[row["object_key"]] = (thread_id, _reply_of(row))
    if wanted <= set(found):
        return found
    messages = lake.read_table("messages", columns=list(LAKE_COLUMNS))
    saved, _ = _saved_state(lake)
    if saved is None or saved[1]["messages"] != threaded.num_rows:
        state, new = ThreadState(), messages
    else:
        state, new = saved[0], _rows_not_in(messages, threaded)
    threading = state.thread(columns_from_lake(new, inbound_domains, tracking_secret))
    for row in _thread_rows(new, threading.thread_ids, state, datetime.now(UTC)).to_pylist():
        if row["object_key"] in wanted and row["object_key"] not in found:
            found[row["object_key"]] = (row["thread_id"], _reply_of(row))
    return found


def _reply_of(row: dict) -> ReplyHeaders | None:
    if not row["reply_in_reply_to"]:
        return None
    return ReplyHeaders(row["reply_in_reply_to"], row["reply_references"], row["reply_subject"])
