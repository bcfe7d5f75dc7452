"""Progress of long commands: a line rewritten in place on a terminal, plain log lines otherwise (a log file or
CI gets a line every `every` items and at the end, never a wall of carriage returns). `Progress` counts a
command's own steps; `progress_lines` prints what the pipelines report through `pipelines.progress` while
Dagster materializes an asset."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from pipelines.progress import PROGRESS


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


class ProgressLines(logging.Handler):
    """Prints the `seslake.progress` records (`pipelines.progress`) while a command runs: on a terminal one line
    rewritten in place, otherwise a plain line each."""

    def __init__(self, stream: TextIO | None = None, indent: str = "  ") -> None:
        super().__init__(logging.INFO)
        self.stream = stream or sys.stdout
        self.terminal = self.stream.isatty()
        self.indent = indent
        self.pending = False

    def emit(self, record: logging.LogRecord) -> None:
        line = self.indent + record.getMessage()
        if self.terminal:
            self.stream.write("\r" + line[:120].ljust(121))
            self.pending = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End a rewritten line, so what follows starts on its own."""
        if self.pending:
            self.stream.write("\n")
            self.stream.flush()
            self.pending = False


@contextmanager
def progress_lines(stream: TextIO | None = None) -> Iterator[ProgressLines]:
    """Print the progress records for the duration of the block."""
    handler = ProgressLines(stream)
    level = PROGRESS.level
    PROGRESS.addHandler(handler)
    PROGRESS.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        handler.finish()
        PROGRESS.removeHandler(handler)
        PROGRESS.setLevel(level)
