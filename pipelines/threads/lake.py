"""Threads for the lake: every message of `messages` gets a `thread_id`, incrementally.

A run threads only the messages not yet in `message_threads`, against the threading state saved by the
previous run, and appends their rows: thread id and the In-Reply-To / References / subject an answer to the
message should carry. Thread ids never change for mail already threaded; when new mail joins two existing
threads, the older thread's id survives and the other id is recorded in `thread_renames` (the warehouse
reads ids through it).

Cost follows the new mail, not the archive: the state keeps a cursor in the lake's commit log
(`Lake.changes`), so a run reads only the `messages` and `message_threads` partitions of the days that
changed since, and the state is a keyed SQLite file (`pipelines.threads.state_store`) of which a run loads
only what its new mail can reach and writes only what it changed. The file lives on local disk
(`Settings.thread_state`; by default `_state/threads.sqlite` in a local lake's folder, or a file per lake
in the system's temporary folder for a lake on S3): it is a cache of the lake, and when it is missing,
unreadable, of another lake or of another `STATE_VERSION`, the run threads everything from scratch (the
same ids, since they are derived from each thread's first message) and writes it whole.

Threading follows arrival order, so the run also threads everything from scratch when history changed
under it, which it sees in the days it reads against the per-day counts the state keeps: a threaded
message no longer in the lake, new mail that arrived before mail already threaded, or `message_threads`
rows the state does not account for (a run that died between writing its rows and saving its state: rows
are written first, then the state in one transaction).

Tracking addresses count only when their keyed token verifies with the tracking secret: both entry
points take `tracking_secret` (`Settings.tracking_secret`; '' = the development key, see
`pipelines.threads.tracking`).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.settings import Settings
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore
from pipelines.storage.schemas import DAY_COLUMN, INBOUND, MESSAGE_THREADS, OUTBOUND, THREAD_RENAMES, with_day
from pipelines.threads.engine import StateVersionError, ThreadColumns, ThreadState, reachable_keys
from pipelines.threads.inputs import LAKE_COLUMNS, columns_from_lake
from pipelines.threads.reply import ReplyHeaders
from pipelines.threads.state_store import PartialState, StateUnreadable, StoreMeta, ThreadStateStore

STATE_FILE = "_state/threads.sqlite"
"""Where a local lake keeps its threading state, inside its own folder."""
STATE_CACHE_FOLDER = "seslake-thread-state"
"""The folder, in the system's temporary folder, of the states of lakes on S3 (one file per lake URL)."""
KEY_COLUMNS = ["direction", "object_key"]
ROW_COLUMNS = [*KEY_COLUMNS, "thread_id", "reply_in_reply_to", "reply_references", "reply_subject"]
"""The `message_threads` columns `thread_for` answers from."""


@dataclass
class ThreadLakeResult:
    messages_threaded: int = 0
    threads_touched: int = 0
    threads_renamed: int = 0
    full_rebuild: bool = False
    reason: str = ""
    seconds: float = 0.0


def thread_state_path(lake: Lake, configured: str | Path | None = None) -> Path:
    """The threading state file of `lake`: `configured` (None: `Settings.thread_state` from the environment)
    when set, else `_state/threads.sqlite` in a local lake's folder, else a file named after the lake's URL
    in the system's temporary folder."""
    if configured is None:
        configured = Settings.from_env().thread_state
    if configured:
        return Path(configured)
    if isinstance(lake.store, LocalStore):
        return lake.store.root / STATE_FILE
    digest = hashlib.blake2b(lake.url.encode(), digest_size=8).hexdigest()
    return Path(tempfile.gettempdir()) / STATE_CACHE_FOLDER / f"{digest}.sqlite"


@dataclass
class _PendingMail:
    """What a run finds since the state's cursor: the days it read, their rows, the new ones, and why the
    state cannot be built upon (`reason`, '' when it can)."""

    reason: str
    cursor: str | None
    """The log cursor read before any table was: every change to `messages` up to it is in these rows."""
    meta: StoreMeta | None = None
    days: set[date] = field(default_factory=set)
    threaded: pa.Table = field(default_factory=lambda: pa.table({}))
    """The `message_threads` rows of those days."""
    new: pa.Table = field(default_factory=lambda: pa.table({}))
    """The `messages` rows of those days not threaded yet."""
    columns: ThreadColumns = field(default_factory=ThreadColumns)
    counts: dict[date, int] = field(default_factory=dict)
    """Messages threaded per day read, as the state counts them."""


def _pending_mail(
    lake: Lake,
    store: ThreadStateStore,
    inbound_domains: list[str] | None,
    tracking_secret: str,
    *,
    days: Iterable[date] = (),
    threaded_columns: list[str] = KEY_COLUMNS,
) -> _PendingMail:
    """Read the days whose `messages` or `message_threads` changed since the state's cursor (and `days`),
    find the messages not yet threaded and check them against the state (see the module docstring)."""
    try:
        meta = store.meta()
        reason = "" if meta is not None else "no saved state"
    except (StateVersionError, StateUnreadable) as exc:
        meta, reason = None, str(exc)
    if meta is not None and meta.lake != lake.url:
        meta, reason = None, f"saved thread state belongs to another lake ({meta.lake})"
    changes, cursor = lake.changes(meta.cursor if meta else None)
    if meta is None:
        return _PendingMail(reason, cursor)
    wanted = set(days)
    for change in changes:
        wanted |= change.days("messages") | change.days("message_threads")
    pending = _PendingMail("", cursor, meta, wanted, columns=ThreadColumns())
    if not wanted:
        pending.threaded = pa.table({c: pa.array([], pa.string()) for c in threaded_columns})
        pending.new = lake.read_table("messages", days=set(), columns=list(LAKE_COLUMNS))
        return pending
    messages = lake.read_table("messages", days=wanted, columns=list(LAKE_COLUMNS))
    pending.threaded = lake.read_table("message_threads", days=wanted, columns=threaded_columns)
    pending.new = _rows_not_in(messages, pending.threaded)
    pending.columns = columns_from_lake(pending.new, inbound_domains, tracking_secret)
    try:
        pending.counts = store.day_counts(wanted)
    except StateUnreadable as exc:
        pending.reason = str(exc)
        return pending
    threaded_per_day = Counter(pending.threaded["date"].to_pylist())
    new_per_day = Counter(pending.new["date"].to_pylist())
    messages_per_day = Counter(messages["date"].to_pylist())
    if any(threaded_per_day[day] != pending.counts[day] for day in wanted):
        pending.reason = "saved state does not match message_threads"
    elif any(threaded_per_day[day] + new_per_day[day] != messages_per_day[day] for day in wanted):
        pending.reason = "threaded messages left the lake"
    elif min(_arrivals(pending.columns), default=float("inf")) < meta.latest_arrival:
        pending.reason = "new mail arrived before mail already threaded"
    return pending


def thread_lake(
    lake: Lake,
    *,
    full_rebuild: bool = False,
    inbound_domains: list[str] | None = None,
    tracking_secret: str = "",
    state_path: str | Path | None = None,
) -> ThreadLakeResult:
    """Thread the messages of `messages` not yet in `message_threads` against the saved state (or all of
    them again, see the module docstring), append their rows and save the state (`state_path`: see
    `thread_state_path`)."""
    started = time.perf_counter()
    result = ThreadLakeResult()
    with ThreadStateStore(thread_state_path(lake, state_path)) as store:
        partial: PartialState | None = None
        with store.snapshot():
            pending = _pending_mail(lake, store, inbound_domains, tracking_secret)
            reason = "requested" if full_rebuild else pending.reason
            if not reason and pending.meta is not None:
                try:
                    partial = store.load(reachable_keys(pending.columns), pending.meta)
                except StateUnreadable as exc:
                    reason = str(exc)
        if reason or partial is None or pending.meta is None:
            result.full_rebuild, result.reason = True, reason
            new = lake.read_table("messages", columns=list(LAKE_COLUMNS))
            columns = columns_from_lake(new, inbound_domains, tracking_secret)
            state = ThreadState()
        else:
            new, columns, state = pending.new, pending.columns, partial.state

        threading = state.thread(columns)
        now = datetime.now(UTC)
        rows = _thread_rows(new, threading.thread_ids, state, now)
        renames = [
            {"tenant_id": _tenant_of(old, rows), "old_thread_id": old, "thread_id": kept, "renamed_at": now}
            for old, kept in sorted(threading.renamed.items())
        ]
        _write(lake, rows, renames, replace_all=result.full_rebuild)
        cursor = _cursor_past_own_writes(lake, pending.cursor)
        arrivals = _arrivals(columns)
        new_per_day = Counter(rows[DAY_COLUMN].to_pylist())
        if partial is None or pending.meta is None:
            meta = StoreMeta(lake=lake.url, cursor=cursor, latest_arrival=max(arrivals, default=float("-inf")))
            store.replace(state, meta, new_per_day, threading.renamed)
        else:
            latest = max([pending.meta.latest_arrival, *arrivals])
            meta = StoreMeta(lake=lake.url, cursor=cursor, latest_arrival=latest)
            counts = {day: pending.counts.get(day, 0) + n for day, n in new_per_day.items()}
            store.save(partial, meta, counts, threading.renamed)
    result.messages_threaded = rows.num_rows
    result.threads_touched = len(set(threading.thread_ids))
    result.threads_renamed = len(renames)
    result.seconds = time.perf_counter() - started
    return result


def _cursor_past_own_writes(lake: Lake, cursor: str | None) -> str | None:
    """The cursor moved past the commits after `cursor` that changed no `messages` partition (this run's own
    `message_threads` and `thread_renames` writes, other tables' writes); it stops at the first commit that
    changed `messages`, so mail written meanwhile is read by the next run."""
    after, _ = lake.changes(cursor)
    for change in after:
        if change.days("messages"):
            break
        cursor = change.cursor
    return cursor


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


def thread_for(
    lake: Lake,
    object_keys: list[str],
    inbound_domains: list[str] | None = None,
    *,
    tracking_secret: str = "",
    days: Iterable[date] | None = None,
    state_path: str | Path | None = None,
) -> dict[str, tuple[str, ReplyHeaders | None]]:
    """Thread id and reply headers (`in_reply_to`, `references`, `subject`) for messages in the lake,
    saving nothing. Messages already threaded keep their row (their id read through later joins);
    the others are threaded on top of the saved state with every message not yet threaded, in
    arrival order, as the next `thread_lake` run will take them, so the live path hands off the id
    that run keeps.

    `days` are the partition days of the objects (their arrival days), when the caller knows them: their
    rows are looked up there besides the days changed since the state's cursor (where mail not yet
    threaded is). An object found in neither is looked up in the whole `message_threads` table. When the
    state cannot be built upon, the next run threads everything again, and so does this call."""
    if not object_keys:
        return {}
    wanted = set(object_keys)
    with ThreadStateStore(thread_state_path(lake, state_path)) as store, store.snapshot():
        pending = _pending_mail(
            lake, store, inbound_domains, tracking_secret, days=days or (), threaded_columns=ROW_COLUMNS
        )
        if not pending.reason and pending.meta is not None:
            try:
                return _thread_for_on_state(lake, store, pending, pending.meta, wanted)
            except StateUnreadable:
                pass
    return _thread_for_from_scratch(lake, wanted, inbound_domains, tracking_secret)


def _thread_for_on_state(
    lake: Lake, store: ThreadStateStore, pending: _PendingMail, meta: StoreMeta, wanted: set[str]
) -> dict[str, tuple[str, ReplyHeaders | None]]:
    """`thread_for` on the part of the saved state the pending mail reaches."""
    found = _current_rows(store, pending.threaded, wanted)
    if wanted <= found.keys():
        return found
    partial = store.load(reachable_keys(pending.columns), meta)
    threading = partial.state.thread(pending.columns)
    for row in _thread_rows(pending.new, threading.thread_ids, partial.state, datetime.now(UTC)).to_pylist():
        if row["object_key"] in wanted and row["object_key"] not in found:
            found[row["object_key"]] = (row["thread_id"], _reply_of(row))
    missing = wanted - found.keys()
    if missing:  # threaded on a day neither given nor changed since the cursor
        found.update(_current_rows(store, lake.read_table("message_threads", columns=ROW_COLUMNS), missing))
    return found


def _current_rows(
    store: ThreadStateStore, threaded: pa.Table, wanted: set[str]
) -> dict[str, tuple[str, ReplyHeaders | None]]:
    """The `message_threads` rows of the wanted objects, their ids read through the renames since."""
    rows = threaded.filter(pc.is_in(threaded["object_key"], pa.array(sorted(wanted), pa.string()))).to_pylist()
    current = store.current_thread_ids(row["thread_id"] for row in rows)
    return {row["object_key"]: (current[row["thread_id"]], _reply_of(row)) for row in rows}


def _thread_for_from_scratch(
    lake: Lake, wanted: set[str], inbound_domains: list[str] | None, tracking_secret: str
) -> dict[str, tuple[str, ReplyHeaders | None]]:
    """`thread_for` without a state to build upon: what the next run, threading everything again, keeps."""
    found: dict[str, tuple[str, ReplyHeaders | None]] = {}
    threaded = lake.read_table("message_threads", columns=ROW_COLUMNS)
    renames = dict(zip(*(lake.read_table("thread_renames")[c].to_pylist() for c in ("old_thread_id", "thread_id")),
                       strict=True))  # fmt: skip
    for row in threaded.filter(pc.is_in(threaded["object_key"], pa.array(sorted(wanted), pa.string()))).to_pylist():
        thread_id = row["thread_id"]
        while thread_id in renames:
            thread_id = renames[thread_id]
        found[row["object_key"]] = (thread_id, _reply_of(row))
    if wanted <= found.keys():
        return found
    messages = lake.read_table("messages", columns=list(LAKE_COLUMNS))
    state = ThreadState()
    threading = state.thread(columns_from_lake(messages, inbound_domains, tracking_secret))
    for row in _thread_rows(messages, threading.thread_ids, state, datetime.now(UTC)).to_pylist():
        if row["object_key"] in wanted and row["object_key"] not in found:
            found[row["object_key"]] = (row["thread_id"], _reply_of(row))
    return found


def _reply_of(row: dict) -> ReplyHeaders | None:
    if not row["reply_in_reply_to"]:
        return None
    return ReplyHeaders(row["reply_in_reply_to"], row["reply_references"], row["reply_subject"])
