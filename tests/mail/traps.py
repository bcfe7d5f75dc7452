"""Hostile behaviour for the guard's tests, run inside real worker processes.

`arm_traps` is given to `ParseGuard(setup=…)`: each worker calls it when it starts, and from then on its
parser springs the trap a message names in an `X-Seslake-Trap:` header (a real segfault, an abort, an
exit, a stall, a runaway allocation, or a subject holding a lone surrogate) and parses everything else
as usual. `TrapJob` is a plain `pipelines.mail.workers.Job` whose items are trap names, for the pool's
own tests.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import re
import resource
import time
from dataclasses import dataclass

from pipelines.mail.workers import Progress
from pipelines.mime.message import ParsedMessage

SEGFAULT = "segfault"
ABORT = "abort"
EXIT = "exit"
SLEEP = "sleep"
ALLOCATE = "allocate"
SURROGATE = "surrogate"
EXIT_STATUS = 3
"""The status the `exit` trap ends its worker with."""

_TRAP = re.compile(rb"^X-Seslake-Trap: *([a-z]+)", re.MULTILINE)
_HOLD: list[object] = []
"""Memory an item keeps on purpose (the worker's growth between tasks)."""


def with_trap(raw: bytes, trap: str) -> bytes:
    """`raw` with a header naming `trap` put first."""
    return f"X-Seslake-Trap: {trap}\r\n".encode() + raw


def spring(trap: str) -> None:
    """Do what `trap` names, in this process: most of them never return."""
    if trap == SEGFAULT:
        ctypes.string_at(0)  # reads address 0: a real SIGSEGV
    elif trap == ABORT:
        os.abort()
    elif trap == EXIT:
        os._exit(EXIT_STATUS)
    elif trap == SLEEP:
        time.sleep(120)
    elif trap == ALLOCATE:
        grabbed = []
        for _ in range(256):  # up to 4 GB, 16 MB at a time, each page touched
            grabbed.append(b"x" * (16 << 20))
            time.sleep(0.002)
        time.sleep(120)


def arm_traps() -> None:
    """Replace this worker's parser by one that springs the trap named in the bytes (see the module docstring)."""
    import pipelines.mail.process as process
    import pipelines.mail.sandbox as sandbox

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the crashes leave no core files behind
    real = process.parse_message

    def trapped(raw: bytes) -> ParsedMessage:
        found = _TRAP.search(raw[:200])
        trap = found.group(1).decode() if found else None
        if trap is not None:
            spring(trap)
        message = real(raw)
        if trap == SURROGATE:
            message.subject = "caf\udce9 " + message.subject
        return message

    process.parse_message = trapped
    sandbox.parse_message = trapped


@dataclass(frozen=True)
class TrapJob:
    """Items are `ok:<n>`, a trap name, `finish` (crashes the task after its last item), `nap:<ms>` (sleeps
    that long and succeeds), `hold:<MB>` (keeps that much memory and succeeds) or `reserve:<MB>` (maps that
    much address space without touching it, and succeeds). The result is (worker pid, the ok numbers)."""

    def start(self) -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def __call__(self, items: list[str], progress: Progress) -> tuple[int, list[int]]:
        numbers = []
        for index, item in enumerate(items):
            progress.begin(index)
            name, _, value = item.partition(":")
            if name == "ok":
                numbers.append(int(value))
            elif name == "nap":
                time.sleep(int(value) / 1000)
            elif name == "hold":
                _HOLD.append(b"x" * (int(value) << 20))
            elif name == "reserve":
                _HOLD.append(mmap.mmap(-1, int(value) << 20))
            elif name != "finish":
                spring(name)
        progress.finishing()
        if "finish" in items:
            spring(SEGFAULT)
        return os.getpid(), numbers


@dataclass(frozen=True)
class BrokenStartJob(TrapJob):
    """A job whose workers die while starting, before any item."""

    def start(self) -> None:
        os._exit(EXIT_STATUS)
