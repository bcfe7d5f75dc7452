"""Progress of long commands: a line rewritten in place on a terminal, plain log lines otherwise (a log file or
CI gets a line every `every` items and at the end, never a wall of carriage returns)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts `done` of `total` items of one step, printing as it goes."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, every: int | None = None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stdout
        self.terminal = self.stream.isatty()
        self.every = every or max(1, total // 10)
        self.started = time.perf_counter()

    def advance(self, count: int = 1, note: str = "") -> None:
        """`count` more items are done (`note`: what the latest was, shown on a terminal)."""
        self.done += count
        if self.terminal:
            line = f"\r{self.label}: {self.done}/{self.total} {note}"[:120]
            self.stream.write(line.ljust(121))
            self.stream.flush()
        elif self.done % self.every == 0 or self.done == self.total:
            elapsed = time.perf_counter() - self.started
            self.stream.write(f"{self.label}: {self.done}/{self.total} ({elapsed:.1f} s)\n")
            self.stream.flush()

    def close(self) -> None:
        """End the step (a terminal's line is finished)."""
        if self.terminal:
            self.stream.write("\n")
            self.stream.flush()
