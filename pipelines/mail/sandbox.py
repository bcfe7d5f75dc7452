"""Parsing mail so that no single object can take down a batch, a worker or a day.

Every object is fetched, parsed (`pipelines.mime.parse`), attributed to a tenant and turned into lake rows
(`pipelines.mail.process.process_object`) in a worker process (`pipelines.mail.workers`) that is killed
and replaced when the object crashes it or overruns a budget; that object is quarantined with what was
seen and the others go on. The rows are checked in the worker too: each task's rows become Arrow tables
there, and when that fails each object's rows are converted on their own and the objects whose rows
cannot be stored (a lone surrogate in a string, say) are quarantined, so no object's rows can fail a batch.
The guard is always on, for one object as for a day of them.

Three callers, one guard:

- the batch ingest (`pipelines.mail.ingest`): `days_to_tables(store, registry, direction, prefix,
  [(day, objects), …])` -> per day, in order and one day at a time, the `messages`, `recipients`,
  `attachments` and `quarantine` tables of its objects, every object in exactly one of `messages` or
  `quarantine`, rows in the objects' order (`objects_to_tables` does the same for one list of objects);
- the live hand-off: `objects_to_outcomes(store, registry, prefix, [(info, notification recipients), …])`
  -> one `ObjectOutcome` per object, in order: its rows (message rows, or its one quarantine row, every
  value storable) and, when it became a message, the `ParsedMessage` and its tenant `Attribution`;
- `seslake threads` (`pipelines.threads.offline.mail_items`): `parse_sources([(name, raw), …])` ->
  `(name, raw, ParsedMessage or Refusal)` per message, in order.

Each takes a `ParseGuard` (None: `ParseGuard.from_settings(Settings.from_env())`) and a number of worker
processes (None: one per core, never more than the work needs). Workers are forked from a fork server
that imported this module (the parser, pyarrow, boto3) once: a worker starts in about 5-20 ms, the server
in 0.3-0.5 s once per process, and `warm_up()` starts it early in the background (`pipelines.mail.workers`
says why not plain `fork`). The budgets, per object:

- wall time (fetch, parse, attribution, rows): `Settings.parse_seconds` (`SESLAKE_PARSE_SECONDS`, default
  20 s); over it the worker is killed and the object quarantined as `parser_timeout`;
- memory: growth of the worker's resident memory over its size when it started, `Settings.parse_memory_mb`
  (`SESLAKE_PARSE_MEMORY_MB`, default 512 MB); over it the worker is killed, `too_large`.

Quarantine reasons the guard adds, with what was seen in the error text; the stage says where the object
was: `fetch`, `parse` (parsing, attribution and building its rows) or `rows` (converting them to Arrow):

- `parser_crash`: the worker died on the object, by a signal (SIGSEGV; SIGABRT from an abort) or an exit:
  `the worker died: killed by signal 11 (SIGSEGV)`, `the worker died: exited with status 3`;
- `parser_timeout`: `ran 20.02 s, over the budget of 20 s; the worker was killed`;
- `too_large`: `worker memory grew by 530 MB (resident 640 MB), over the budget of 512 MB; the worker was killed`;
- `invalid_rows`: the rows cannot be stored:
  `messages.subject: UnicodeEncodeError: 'utf-8' codec can't encode character '\\udcff' in position 4: …`;
- `parser_error`: an exception while attributing the object or building its rows (as for one the parser raises).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial

import pyarrow as pa

from pipelines.mail.process import PARSER_ERROR, exception_text, process_object
from pipelines.mail.rows import TABLES, ObjectRows
from pipelines.mail.workers import (
    CRASH,
    MEMORY,
    TIMEOUT,
    Budget,
    Done,
    Failure,
    Piece,
    Progress,
    WorkerPool,
    start_fork_server,
)
from pipelines.mime.limits import TOO_LARGE
from pipelines.mime.message import MimeParseError, ParsedMessage
from pipelines.mime.parse import parse_message
from pipelines.settings import Settings
from pipelines.storage.objects import ObjectInfo, ObjectStore, open_store
from pipelines.storage.schemas import INBOUND, quarantine_row
from pipelines.tenants import Attribution, TenantRegistry

PARSER_CRASH = "parser_crash"
PARSER_TIMEOUT = "parser_timeout"
INVALID_ROWS = "invalid_rows"
"""Quarantine reasons of the guard (see the module docstring)."""
REASONS = {CRASH: PARSER_CRASH, TIMEOUT: PARSER_TIMEOUT, MEMORY: TOO_LARGE}

FETCH, PARSE, ROWS = 0, 1, 2
STAGES = ("fetch", "parse", "rows")
"""The phases a worker marks, and the quarantine stage each one names."""

CHUNK_OBJECTS = 500
"""Most objects per task handed to a worker (fewer when that spreads a small batch over the workers)."""
CHUNK_SOURCES = 100
"""Raw messages per task of `parse_sources`."""
PRELOAD = ("pipelines.mail.sandbox", "boto3")
"""What the fork server imports once, so that a worker starts without importing anything."""


@dataclass(frozen=True)
class ParseGuard:
    """How each object is isolated: its budgets, and what each worker runs once when it starts."""

    seconds: float = Settings.parse_seconds
    memory_mb: int = Settings.parse_memory_mb
    setup: Callable[[], None] | None = None
    """A module-level function each worker calls once before its first object (logging configuration,
    the fault injections of the tests), or None."""

    def __post_init__(self) -> None:
        if not (self.seconds > 0 and self.memory_mb > 0):
            raise ValueError(f"parse budgets must be positive: {self.seconds} s, {self.memory_mb} MB")

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseGuard:
        return cls(seconds=settings.parse_seconds, memory_mb=settings.parse_memory_mb)

    @property
    def budget(self) -> Budget:
        return Budget(seconds=self.seconds, memory_mb=self.memory_mb)


@dataclass
class ObjectOutcome:
    """What became of one object (the live path)."""

    info: ObjectInfo
    rows: ObjectRows
    """Its `messages`, `recipients` and `attachments` rows, or its one `quarantine` row."""
    message: ParsedMessage | None = None
    attribution: Attribution | None = None
    """Both set when the object became a message."""


@dataclass(frozen=True)
class Refusal:
    """Why a raw message was not parsed: a quarantine reason and the detail."""

    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def objects_to_tables(
    store: ObjectStore,
    registry: TenantRegistry,
    direction: str,
    prefix: str,
    objects: Sequence[ObjectInfo],
    *,
    guard: ParseGuard | None = None,
    workers: int | None = None,
) -> dict[str, pa.Table]:
    """The four tables of `objects` (see the module docstring), built under the guard."""
    size = _pool_size(len(objects), workers)
    ((_, tables),) = days_to_tables(
        store, registry, direction, prefix, [(date.min, objects)], guard=guard, workers=size
    )
    return tables


def days_to_tables(
    store: ObjectStore,
    registry: TenantRegistry,
    direction: str,
    prefix: str,
    days: Iterable[tuple[date, Sequence[ObjectInfo]]],
    *,
    guard: ParseGuard | None = None,
    workers: int | None = None,
) -> Iterator[tuple[date, dict[str, pa.Table]]]:
    """(day, the four tables of its objects) for each (day, objects) of `days`, in order, built under the
    guard by one pool of workers. `days` is read lazily, a few tasks ahead of the day being assembled (a
    task never spans two days), so a run holds one day's rows plus the tasks in flight, however many days
    it covers."""
    guard = _resolve(guard)
    size = max(1, workers or os.cpu_count() or 1)
    schedule: deque[tuple[date, int]] = deque()
    """Days whose tasks were handed to the pool, with their number of tasks, in order."""

    def tasks() -> Iterator[list[tuple[ObjectInfo, tuple[str, ...]]]]:
        for day, objects in days:
            chunks = _chunks([(info, ()) for info in objects], CHUNK_OBJECTS, size)
            schedule.append((day, len(chunks)))
            yield from chunks

    empty = ObjectRows().tables()
    parts: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
    done_tasks = 0

    def ready() -> Iterator[tuple[date, dict[str, pa.Table]]]:
        """The days at the head of the schedule whose every task is in `parts`."""
        nonlocal parts, done_tasks
        while schedule and schedule[0][1] == done_tasks:
            day, _ = schedule.popleft()
            tables = {name: pa.concat_tables(found) if found else empty[name] for name, found in parts.items()}
            parts, done_tasks = {name: [] for name in TABLES}, 0
            yield day, tables

    with _scratch() as scratch:
        job = _ObjectsJob(store.url, store.endpoint_url, registry, direction, prefix, guard.setup, False, scratch)
        with WorkerPool(job, guard.budget, size, PRELOAD) as pool:
            for pieces in pool.map(tasks()):
                yield from ready()  # days without objects before this task's day
                for piece in pieces:
                    for name, table in _piece_tables(direction, piece).items():
                        parts[name].append(table)
                done_tasks += 1
                yield from ready()
            yield from ready()


def _piece_tables(direction: str, piece: Piece) -> dict[str, pa.Table]:
    """One piece of a task as the four tables: the worker's tables, or the failed object's quarantine row."""
    if isinstance(piece, Done):
        return {name: from_ipc(data) for name, data in piece.result.items()}
    return ObjectRows(quarantine=[failure_row(direction, piece.item[0], piece.failure)]).tables()


def objects_to_outcomes(
    store: ObjectStore,
    registry: TenantRegistry,
    prefix: str,
    objects: Sequence[tuple[ObjectInfo, Sequence[str]]],
    *,
    direction: str = INBOUND,
    guard: ParseGuard | None = None,
    workers: int | None = None,
) -> list[ObjectOutcome]:
    """One outcome per (object, notification recipients), in order (see the module docstring)."""
    guard = _resolve(guard)
    size = _pool_size(len(objects), workers)
    items = [(info, tuple(recipients)) for info, recipients in objects]
    outcomes: list[ObjectOutcome] = []
    with _scratch() as scratch:
        job = _ObjectsJob(store.url, store.endpoint_url, registry, direction, prefix, guard.setup, True, scratch)
        with WorkerPool(job, guard.budget, size, PRELOAD) as pool:
            for pieces in pool.map(_chunks(items, CHUNK_OBJECTS, size)):
                for piece in pieces:
                    if isinstance(piece, Done):
                        outcomes += piece.result
                    else:
                        info = piece.item[0]
                        rows = ObjectRows(quarantine=[failure_row(direction, info, piece.failure)])
                        outcomes.append(ObjectOutcome(info, rows))
    return outcomes


def parse_sources(
    sources: Iterable[tuple[str, bytes]], *, guard: ParseGuard | None = None, workers: int | None = None
) -> Iterator[tuple[str, bytes, ParsedMessage | Refusal]]:
    """(name, raw, the parsed message or why not) for each named raw message, in order, each parsed under
    the guard; sources are read a few tasks ahead of the results."""
    guard = _resolve(guard)
    size = workers or os.cpu_count() or 1
    with WorkerPool(_SourcesJob(guard.setup), guard.budget, size, PRELOAD) as pool:
        for pieces in pool.map(_batched(sources, CHUNK_SOURCES)):
            for piece in pieces:
                if isinstance(piece, Done):
                    for (name, raw), parsed in zip(piece.items, piece.result, strict=True):
                        yield name, raw, parsed
                else:
                    name, raw = piece.item
                    yield name, raw, Refusal(REASONS[piece.failure.kind], piece.failure.detail)


def warm_up() -> None:
    """Start the workers' fork server in the background (it imports the parser and pyarrow once, a few tenths
    of a second), so that the first guarded batch of this process does not wait for it. Optional: call it
    early in a process that will parse soon, e.g. before reading a batch's notifications."""
    start_fork_server(PRELOAD)


def failure_row(source: str, info: ObjectInfo, failure: Failure) -> dict:
    """The quarantine row of an object whose worker crashed or overran a budget."""
    return quarantine_row(source, info, STAGES[failure.phase], REASONS[failure.kind], failure.detail)


@dataclass
class _ObjectsJob:
    """Runs in a worker: objects -> their checked rows (`process_object` each, under `Progress`)."""

    store_url: str
    endpoint_url: str | None
    registry: TenantRegistry
    direction: str
    prefix: str
    setup: Callable[[], None] | None
    per_object: bool
    """True: a list of `ObjectOutcome`; False: the task's four tables, each as an Arrow IPC stream (a copy
    of its buffers, where pickling a table costs a pickle of every column)."""
    scratch: str
    """Where large objects are downloaded (removed after the pool, with what killed workers left there)."""
    store: ObjectStore | None = field(default=None, repr=False)

    def start(self) -> None:
        if self.setup is not None:
            self.setup()
        self.store = open_store(self.store_url, self.endpoint_url)

    def __call__(
        self, items: list[tuple[ObjectInfo, tuple[str, ...]]], progress: Progress
    ) -> dict[str, bytes] | list[ObjectOutcome]:
        rows = ObjectRows()
        marks: list[tuple[int, ...]] = []
        parsed: list[tuple[ParsedMessage, Attribution] | None] = []
        fetched = partial(progress.phase, PARSE)
        for index, (info, recipients) in enumerate(items):
            progress.begin(index, FETCH)
            before = rows.mark()
            marks.append(before)
            try:
                outcome = process_object(
                    self.store,  # type: ignore[arg-type]
                    self.registry,
                    self.direction,
                    self.prefix,
                    info,
                    rows,
                    recipients,
                    on_fetched=fetched,
                    scratch=self.scratch,
                )
            except Exception as exc:  # noqa: BLE001 - an error in attribution or rows is this object's alone
                rows.truncate(before)
                rows.quarantine.append(quarantine_row(self.direction, info, "parse", PARSER_ERROR, exception_text(exc)))
                outcome = None
            parsed.append(outcome)
        marks.append(rows.mark())
        progress.finishing(ROWS)
        parts: list[ObjectRows] | None = None
        try:
            tables = rows.tables()
        except Exception:  # noqa: BLE001 - some object's rows cannot be stored: find which, here
            parts = [self._storable(rows.between(marks[i], marks[i + 1]), info) for i, (info, _) in enumerate(items)]
            parsed = [outcome if not part.quarantine else None for outcome, part in zip(parsed, parts, strict=True)]
            rows = ObjectRows()
            for part in parts:
                rows.extend(part)
            tables = rows.tables()
        if not self.per_object:
            return {name: to_ipc(table) for name, table in tables.items()}
        parts = parts or [rows.between(marks[i], marks[i + 1]) for i in range(len(items))]
        return [
            ObjectOutcome(info, part, *(outcome or (None, None)))
            for (info, _), part, outcome in zip(items, parts, parsed, strict=True)
        ]

    def _storable(self, rows: ObjectRows, info: ObjectInfo) -> ObjectRows:
        """One object's rows if they convert to Arrow, else its `invalid_rows` quarantine row."""
        try:
            rows.tables()
        except Exception as exc:  # noqa: BLE001 - whatever the conversion raises, the rows cannot be stored
            detail = rows.unstorable() or exception_text(exc)
            error = detail.encode("utf-8", "backslashreplace").decode("utf-8")
            return ObjectRows(quarantine=[quarantine_row(self.direction, info, "rows", INVALID_ROWS, error)])
        return rows


@dataclass(frozen=True)
class _SourcesJob:
    """Runs in a worker: named raw messages -> parsed messages or refusals."""

    setup: Callable[[], None] | None

    def start(self) -> None:
        if self.setup is not None:
            self.setup()

    def __call__(self, items: list[tuple[str, bytes]], progress: Progress) -> list[ParsedMessage | Refusal]:
        out: list[ParsedMessage | Refusal] = []
        for index, (_, raw) in enumerate(items):
            progress.begin(index, PARSE)
            try:
                out.append(parse_message(raw))
            except MimeParseError as exc:
                out.append(Refusal(exc.reason, str(exc)))
            except Exception as exc:  # noqa: BLE001 - a parser bug refuses this message only
                out.append(Refusal(PARSER_ERROR, exception_text(exc)))
        progress.finishing()
        return out


def to_ipc(table: pa.Table) -> bytes:
    """A table as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    """The table of an Arrow IPC stream (`to_ipc`)."""
    return pa.ipc.open_stream(data).read_all()


def _resolve(guard: ParseGuard | None) -> ParseGuard:
    return guard if guard is not None else ParseGuard.from_settings(Settings.from_env())


def _pool_size(count: int, workers: int | None) -> int:
    return max(1, min(workers or os.cpu_count() or 1, count))


def _chunks(items: list, most: int, workers: int) -> list[list]:
    """`items` in consecutive tasks of at most `most`, small batches spread evenly over the workers."""
    per = max(1, min(most, math.ceil(len(items) / workers)))
    return [items[i : i + per] for i in range(0, len(items), per)]


def _batched(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _scratch() -> tempfile.TemporaryDirectory:
    """A folder for the workers' large downloads, removed afterwards with whatever killed workers left."""
    return tempfile.TemporaryDirectory(prefix="seslake-parse-", ignore_cleanup_errors=True)
