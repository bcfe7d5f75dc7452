"""Killable worker processes that run lists of items, each item under a wall-time and a memory budget.

A `WorkerPool` hands each task (a list of items) to a worker process, which runs the pool's job on the
items one at a time and sends the task's result back whole. Before each item the job marks, in memory
shared with the parent (`Progress`), which item it is on, in which phase, and since when. The parent
watches every busy worker and turns what goes wrong into a `Failure` of exactly one item:

- the worker dies (a signal such as SIGSEGV, an abort, any exit): kind CRASH, with the signal or status;
- the item has run longer than `Budget.seconds`: the worker is killed, kind TIMEOUT, with the seconds
  (and should the parent be gone or too busy to look, the worker's own alarm ends it after
  `ALARM_FACTOR` times the budget: a stalled worker never outlives its parent for long);
- the worker's resident memory grew more than `Budget.memory_mb` over its size when it was ready: the
  worker is killed, kind MEMORY, with the megabytes seen (read from `/proc/<pid>/statm` every
  `POLL_SECONDS`; where there is no `/proc` the memory budget is not enforced).

The items before and after the failed one go to a fresh worker (they run again: results travel per task),
so every item of a task ends in exactly one `Done` or `Failed` piece, in item order, whatever the pool
size. A failure after the last item, while the job assembles the task's result, splits the task in halves
until the one item that causes it is found. A worker that dies or hangs before its first item is not an
item's fault: it is replaced, and `WorkerStartError` is raised when that happens `MAX_FAILED_STARTS`
times in a row (the machine, not the input, is broken).

Workers start from a fork server (`multiprocessing`'s `forkserver` method) that imported the `preload`
modules once: a worker then starts in about 5-20 ms without importing anything, from a clean process
rather than from the caller, which may run threads (Dagster, servers in tests) whose locks a forked child
could inherit held. The server itself starts once per process, in 0.3-0.5 s (`start_fork_server` starts
it early, in the background). Forking the caller directly starts a worker in about 3 ms, but on a batch
of 50 messages such a worker took 75-90 ms against 30-55 ms from the fork server, as it copies the
caller's memory page by page when it first writes to it. The server imports with the module search path
it started with (Python 3.11 does not pass the caller's): a worker whose job module is another file than
the caller's refuses to start, naming both.

Memory is watched from the parent rather than limited with RLIMIT_AS/RLIMIT_DATA: pyarrow's allocator
reserves about 1 GB of address space (and of RLIMIT_DATA's writable mappings) on first use while about
60 MB is resident, so such a limit measures reservations rather than use, and an allocation it refuses
surfaces inside the parser as a MemoryError or an abort instead of a kill that says how much was used.
The parent's reading every POLL_SECONDS lets an allocation overshoot by what it can touch in that time
(a few hundred MB at most) before the worker is killed.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

CRASH = "crash"
TIMEOUT = "timeout"
MEMORY = "memory"
"""`Failure.kind`: the worker died; the item ran past `Budget.seconds`; the worker grew past `Budget.memory_mb`."""

POLL_SECONDS = 0.02
"""How often the parent looks at a busy worker's clock and resident memory."""
START_SECONDS = 60.0
"""How long a worker may take to start, or to begin the first item of a task it was given."""
MAX_FAILED_STARTS = 3
"""Workers in a row that may die or hang before their first item before the pool gives up."""
ALARM_FACTOR = 2
"""A worker's own alarm goes off after this many times `Budget.seconds` on one item (plus a second): the
backstop for a parent that is gone or too busy to kill it."""
START_METHOD = "forkserver"

IDLE = -1
"""`Progress` index of a worker between tasks (or not yet at the first item of its task)."""
FINISHING = -2
"""`Progress` index of a worker past its last item, assembling and sending the task's result."""
_INDEX, _PHASE, _STARTED = 0, 1, 2
_READY = "ready"
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Budget:
    """What one item may cost: wall seconds, and megabytes of the worker's resident memory."""

    seconds: float
    memory_mb: int


@dataclass(frozen=True)
class Failure:
    """Why an item has no result: its kind, the job's phase when it happened, and what was seen."""

    kind: str
    phase: int
    detail: str


@dataclass(frozen=True)
class Done(Generic[T, R]):
    """Consecutive items of a task and the job's result for them."""

    items: list[T]
    result: R


@dataclass(frozen=True)
class Failed(Generic[T]):
    """One item whose worker crashed, overran its time or its memory."""

    item: T
    failure: Failure


Piece = Done[T, R] | Failed[T]


class WorkerStartError(RuntimeError):
    """Worker processes keep dying or hanging before they reach an item."""


class Progress:
    """The worker's side of its shared slot: the item it is on, the phase, and when the item began.

    Each item also arms the worker's own alarm (`alarm` seconds, 0 for none): should the parent be gone
    or stuck, SIGALRM's default action ends a worker still on the item then."""

    def __init__(self, slot: Any, alarm: int = 0) -> None:
        self._slot = slot
        self._alarm = alarm

    def begin(self, index: int, phase: int = 0) -> None:
        """Item `index` (of the task being run) starts now, in `phase`: its clock starts."""
        self._slot[_STARTED] = time.monotonic()
        self._slot[_PHASE] = phase
        self._slot[_INDEX] = index
        signal.alarm(self._alarm)

    def phase(self, phase: int) -> None:
        """The current item moves on to `phase`; its clock keeps running."""
        self._slot[_PHASE] = phase

    def finishing(self, phase: int | None = None) -> None:
        """Past the last item: the task's result is being assembled (its own clock starts)."""
        self.begin(FINISHING, int(self._slot[_PHASE]) if phase is None else phase)


class Job(Protocol[T, R]):
    """What a worker runs; pickled once into each worker, so it must be defined at module level."""

    def start(self) -> None:
        """Runs once in the worker before its first task (open connections, configure)."""

    def __call__(self, items: list[T], progress: Progress) -> R:
        """The result for `items`, calling `progress.begin(i, …)` before item i and `progress.finishing()`
        after the last one."""


@dataclass(frozen=True)
class _Segment(Generic[T]):
    """Consecutive items of one task, starting at `offset` in it."""

    task: int
    offset: int
    items: list[T]


class _Worker:
    def __init__(self, process: Any, conn: Connection, slot: Any) -> None:
        self.process = process
        self.conn = conn
        self.slot = slot
        self.since = time.monotonic()
        self.baseline: int | None = None
        """Resident bytes when it reported ready; None while starting."""
        self.segment: _Segment | None = None

    def snapshot(self) -> tuple[int, int, float]:
        """(index, phase, started) as the worker last wrote them."""
        while True:
            index = self.slot[_INDEX]
            phase, started = self.slot[_PHASE], self.slot[_STARTED]
            if self.slot[_INDEX] == index:
                return int(index), int(phase), started


def start_fork_server(preload: Sequence[str]) -> None:
    """Start this process's fork server now, importing `preload`, unless it runs already. It returns at once
    and the server imports in the background, so work done meanwhile hides the server's start."""
    multiprocessing.get_context(START_METHOD).set_forkserver_preload(list(preload))
    multiprocessing.forkserver.ensure_running()


def resident_bytes(pid: int) -> int | None:
    """The process's resident memory, or None when it cannot be read (no /proc, process gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return None


def exit_text(exitcode: int | None) -> str:
    """How a process ended, for a person: `killed by signal 11 (SIGSEGV)`, `exited with status 3`."""
    if exitcode is None:
        return "ended without an exit status"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-exitcode} ({name})"
    return f"exited with status {exitcode}"


@dataclass(frozen=True)
class _StartFailed:
    """What a worker says instead of ready when it cannot start."""

    reason: str


def serve(conn: Connection, slot: Any, job: Job, origin: str | None, alarm: int) -> None:
    """A worker's life: start the job, say ready, then run each task received until told to stop.
    `origin` is the file the parent's copy of the job's module came from: the fork server imports its
    preloaded modules with its own search path, and a worker running other code than its parent must not
    start. `alarm` is the `Progress` alarm."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt is the parent's to handle: it stops the workers
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    here = getattr(sys.modules[type(job).__module__], "__file__", None)
    if here != origin:
        module = type(job).__module__
        conn.send(_StartFailed(f"the fork server loaded {module} from {here}, the parent from {origin}"))
        return
    try:
        job.start()
    except Exception as exc:  # noqa: BLE001 - said to the parent, which decides
        conn.send(_StartFailed(f"starting the job failed: {type(exc).__name__}: {exc}"))
        return
    progress = Progress(slot, alarm)
    conn.send(_READY)
    while True:
        try:
            items = conn.recv()
        except EOFError:  # the parent is gone
            return
        if items is None:
            return
        result = job(items, progress)
        progress.finishing()
        conn.send(result)
        signal.alarm(0)


class WorkerPool(Generic[T, R]):
    """Up to `size` worker processes running `job` on tasks under `budget` (see the module docstring).

    Use it as a context manager: leaving it stops every worker. `preload` names the modules the fork
    server imports once (the job's module and what it uses); it applies when this process starts its
    fork server, so the first pool of a process decides it."""

    def __init__(self, job: Job[T, R], budget: Budget, size: int, preload: Sequence[str] = ()) -> None:
        self.job = job
        self.budget = budget
        self.size = max(1, size)
        self._alarm = math.ceil(ALARM_FACTOR * budget.seconds) + 1
        self._context = multiprocessing.get_context(START_METHOD)
        if preload:
            self._context.set_forkserver_preload(list(preload))
        self._workers: list[_Worker] = []
        self._queue: deque[_Segment] = deque()
        self._failed_starts = 0

    def __enter__(self) -> WorkerPool[T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit, busy ones are killed."""
        for worker in list(self._workers):
            if worker.baseline is not None and worker.segment is None:
                try:
                    worker.conn.send(None)
                    worker.process.join(timeout=1.0)
                except OSError:
                    pass
            self._discard(worker)

    def map(self, tasks: Iterable[Sequence[T]]) -> Iterator[list[Piece[T, R]]]:
        """Each task's pieces in item order, tasks in the order given; tasks are taken from `tasks` a few
        ahead of the one being waited for. Budgets are enforced while the iterator is advanced."""
        for worker in [w for w in self._workers if w.segment is not None]:  # left by an abandoned map
            self._discard(worker)
        self._queue.clear()
        source = iter(tasks)
        pieces: dict[int, dict[int, Piece[T, R]]] = {}
        missing: dict[int, int] = {}
        taken = given = 0
        exhausted = False
        while True:
            while not exhausted and taken - given < 2 * self.size:
                task = next(source, None)
                if task is None:
                    exhausted = True
                    break
                items = list(task)
                pieces[taken], missing[taken] = {}, len(items)
                if items:
                    self._queue.append(_Segment(taken, 0, items))
                taken += 1
            self._dispatch()  # before yielding: workers go on while the caller takes a result
            while given < taken and missing[given] == 0:
                done = pieces.pop(given)
                del missing[given]
                yield [done[offset] for offset in sorted(done)]
                given += 1
            if exhausted and given == taken:
                return
            self._dispatch()
            for task_id, offset, piece in self._step():
                pieces[task_id][offset] = piece
                missing[task_id] -= len(piece.items) if isinstance(piece, Done) else 1

    def _dispatch(self) -> None:
        """Give queued segments to idle workers, and start workers for what is still waiting."""
        for worker in self._workers:
            if self._queue and worker.baseline is not None and worker.segment is None:
                self._give(worker, self._queue.popleft())
        starting = sum(worker.baseline is None for worker in self._workers)
        for _ in range(min(len(self._queue) - starting, self.size - len(self._workers))):
            self._start()

    def _start(self) -> None:
        here, there = self._context.Pipe()
        slot = self._context.RawArray("d", 3)
        slot[_INDEX] = IDLE
        origin = getattr(sys.modules[type(self.job).__module__], "__file__", None)
        process = self._context.Process(
            target=serve, args=(there, slot, self.job, origin, self._alarm), name="seslake-worker"
        )
        process.start()
        there.close()
        self._workers.append(_Worker(process, here, slot))

    def _give(self, worker: _Worker, segment: _Segment) -> None:
        worker.segment = segment
        worker.since = time.monotonic()
        with contextlib.suppress(OSError):  # if it died, its sentinel says so on the next step
            worker.conn.send(segment.items)

    def _step(self) -> list[tuple[int, int, Piece[T, R]]]:
        """Wait up to POLL_SECONDS for results or deaths, then check every busy worker's budgets."""
        watched = [worker for worker in self._workers if worker.baseline is None or worker.segment is not None]
        if not watched:
            return []
        ready = set(wait([w.conn for w in watched] + [w.process.sentinel for w in watched], timeout=POLL_SECONDS))
        out: list[tuple[int, int, Piece[T, R]]] = []
        for worker in watched:
            if worker.conn in ready:
                self._receive(worker, out)
            elif worker.process.sentinel in ready:
                self._died(worker, out)
            else:
                self._watch(worker, out)
        return out

    def _receive(self, worker: _Worker, out: list) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            self._died(worker, out)
            return
        if isinstance(message, _StartFailed):
            self._fail(worker, CRASH, message.reason, out)
            return
        if worker.baseline is None:  # the ready message
            worker.baseline = resident_bytes(worker.process.pid) or 0
            return
        segment, worker.segment = worker.segment, None
        worker.slot[_INDEX] = IDLE
        self._failed_starts = 0
        out.append((segment.task, segment.offset, Done(segment.items, message)))
        grown = (resident_bytes(worker.process.pid) or 0) - worker.baseline
        if grown > self.budget.memory_mb * 2**20 / 2:  # freed memory that stays resident: start afresh
            self._discard(worker)

    def _died(self, worker: _Worker, out: list) -> None:
        worker.process.join()
        exitcode = worker.process.exitcode
        if exitcode == -signal.SIGALRM:
            detail = f"ran over {self._alarm} s, past the budget of {self.budget.seconds:g} s; its own alarm ended it"
            self._fail(worker, TIMEOUT, detail, out)
        else:
            self._fail(worker, CRASH, f"the worker died: {exit_text(exitcode)}", out)

    def _watch(self, worker: _Worker, out: list) -> None:
        now = time.monotonic()
        index, phase, started = worker.snapshot()
        if worker.baseline is None or index == IDLE:
            if now - worker.since > START_SECONDS:
                self._fail(worker, TIMEOUT, f"the worker did not start within {START_SECONDS:g} s", out)
            return
        elapsed = now - started
        if elapsed > self.budget.seconds:
            detail = f"ran {elapsed:.2f} s, over the budget of {self.budget.seconds:g} s; the worker was killed"
            self._fail(worker, TIMEOUT, detail, out, (index, phase))
            return
        resident = resident_bytes(worker.process.pid)
        if resident is not None and resident - worker.baseline > self.budget.memory_mb * 2**20:
            grown = (resident - worker.baseline) / 2**20
            detail = (
                f"worker memory grew by {grown:.0f} MB (resident {resident / 2**20:.0f} MB), over the budget of "
                f"{self.budget.memory_mb} MB; the worker was killed"
            )
            self._fail(worker, MEMORY, detail, out, (index, phase))

    def _fail(self, worker: _Worker, kind: str, detail: str, out: list, seen: tuple[int, int] | None = None) -> None:
        """The worker is lost: blame the item it was on (`seen`: the (index, phase) a budget was found
        overrun at; else where the dead worker stopped; see the module docstring) and requeue the rest."""
        self._discard(worker)
        index, phase = seen if seen is not None else worker.snapshot()[:2]
        segment = worker.segment
        if segment is None or index == IDLE:
            if segment is not None:
                self._queue.appendleft(segment)
            self._failed_starts += 1
            if self._failed_starts >= MAX_FAILED_STARTS:
                raise WorkerStartError(
                    f"{self._failed_starts} worker processes in a row failed before their first item; last: {detail}"
                )
            return
        failure = Failure(kind, phase, detail)
        items, offset = segment.items, segment.offset
        if index == FINISHING and len(items) > 1:
            half = len(items) // 2
            self._queue.appendleft(_Segment(segment.task, offset + half, items[half:]))
            self._queue.appendleft(_Segment(segment.task, offset, items[:half]))
            return
        index = max(index, 0)
        out.append((segment.task, offset + index, Failed(items[index], failure)))
        if index + 1 < len(items):
            self._queue.appendleft(_Segment(segment.task, offset + index + 1, items[index + 1 :]))
        if index > 0:
            self._queue.appendleft(_Segment(segment.task, offset, items[:index]))

    def _discard(self, worker: _Worker) -> None:
        """Kill (if still running) and forget a worker."""
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.conn.close()
        if worker in self._workers:
            self._workers.remove(worker)
