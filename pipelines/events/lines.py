"""A Firehose object → its numbered lines, in bounded memory whatever the object holds.

The object is read as a stream: gzip (recognized by its magic bytes) is decompressed a chunk at a
time, lines are split as they come, and a line longer than MAX_LINE_BYTES is skipped to its end
without being kept. Nothing downstream (DuckDB or the reference normalizer) ever sees a line over
the cap, and the memory held is about READ_CHUNK_BYTES plus one line, however large the object
decompresses.

Limits (each a constant below, with its reason):
- MAX_LINE_BYTES (1 MiB): a longer line becomes a `line_too_long` bad line;
- MAX_FILE_BYTES (256 MiB decompressed): reading stops there with `file_too_large`;
- READ_CHUNK_BYTES (1 MiB): how much is decompressed and split at a time.

When the stream breaks, nothing more is read and the break is the last thing yielded:
- gzip cut short (`truncated_compression`), the size cap (`file_too_large`) or any other failure
  (`unreadable`): what was decompressed before is exactly what the object holds, so the lines read
  whole before that point stand (each still checked on its own downstream); the bad line is the
  line in progress, which is not used.
- corrupt gzip (`bad_compression`: invalid deflate data, a CRC or length mismatch, a bad header or
  trailing garbage): deflate turns damaged input into plausible output until a code or the CRC at
  the member's end gives it away (64 damaged bytes in the middle of an object give hundreds of
  garbage lines first), so nothing the object decompressed to can be trusted. The bad line stands
  for the whole object (`line_number` None): its reason, CORRUPT, tells the caller to drop the
  object's lines.
Line numbers count every line, blank ones included, from 1.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAX_LINE_BYTES = 1 << 20
"""Longest line read (1 MiB). Firehose refuses records over 1,000 KiB, so no delivered line is longer;
an SES event is a few KB. Longer lines are skipped to their end unread and quarantined."""

MAX_FILE_BYTES = 256 << 20
"""Most decompressed bytes read from one object (256 MiB): twice Firehose's largest buffer (128 MiB
of records per object), so only a decompression bomb or a foreign file reaches it."""

READ_CHUNK_BYTES = 1 << 20
"""Decompressed bytes read and split at a time (1 MiB): large enough to keep per-chunk overhead
negligible, small enough that memory does not depend on the object."""

GZIP_MAGIC = b"\x1f\x8b"
CORRUPT = "bad_compression"
"""The reason of a break after which none of the object's lines are to be used."""
TOO_LARGE = "file_too_large"
STREAM_BREAKS = frozenset({CORRUPT, "truncated_compression", TOO_LARGE, "unreadable"})
"""The reasons of a BadLine that ends an object early (`read_lines` yields at most one, last)."""
LINE_WHITESPACE = b" \t\r\x0b\x0c"
"""A line (split on \\n) of only these is blank; they are stripped before parsing, not before fingerprinting."""


@dataclass(frozen=True)
class BadLine:
    """A line (or the rest of an object from that line on) that cannot become events, with a short
    `reason` code for the quarantine and the error text; `line_number` is None for a whole object."""

    line_number: int | None
    reason: str
    error: str


NumberedLine = tuple[int, bytes]


def read_lines(raw: BinaryIO) -> Iterator[NumberedLine | BadLine]:
    """Every non-blank line of the object in `raw` (a seekable binary stream) as (number, bytes),
    and a BadLine for each line over MAX_LINE_BYTES and for a break in the stream (after which
    nothing more is read)."""
    splitter = _LineSplitter()
    read = 0
    try:
        stream = _decompressed(raw)
        while chunk := stream.read1(READ_CHUNK_BYTES):
            read += len(chunk)
            if read > MAX_FILE_BYTES:  # the lines that end within the cap are still read
                yield from splitter.feed(chunk[: len(chunk) - (read - MAX_FILE_BYTES)])
                yield splitter.stop(TOO_LARGE, f"decompressed size over {MAX_FILE_BYTES} bytes (the cap)")
                return
            yield from splitter.feed(chunk)
    except EOFError as exc:
        yield splitter.stop("truncated_compression", f"gzip stream cut short: {exc}")
        return
    except (gzip.BadGzipFile, zlib.error) as exc:
        error = f"corrupt gzip ({type(exc).__name__}: {exc}), found at line {splitter.number}"
        yield BadLine(None, CORRUPT, f"{error}; none of the object's lines are used")
        return
    except Exception as exc:  # whatever else a file's bytes cause ends that file only
        yield splitter.stop("unreadable", f"{type(exc).__name__}: {exc}")
        return
    yield from splitter.finish()


def _decompressed(raw: BinaryIO) -> BinaryIO:
    """`raw` itself, or a gzip reader over it when it starts with gzip's magic bytes."""
    magic = raw.read(len(GZIP_MAGIC))
    raw.seek(0)
    return gzip.GzipFile(fileobj=raw, mode="rb") if magic == GZIP_MAGIC else raw


class _LineSplitter:
    """Splits chunks into numbered lines, keeping at most MAX_LINE_BYTES of a line in progress."""

    def __init__(self) -> None:
        self.number = 1
        """The number of the line in progress."""
        self.partial = bytearray()
        """The start of the line in progress (at most MAX_LINE_BYTES)."""
        self.skipped = 0
        """Length so far of an over-long line in progress (its bytes are not kept), else 0."""

    def feed(self, chunk: bytes) -> list[NumberedLine | BadLine]:
        """The lines (and over-long lines) that end in `chunk`."""
        found: list[NumberedLine | BadLine] = []
        start = 0
        if self.skipped:
            end = chunk.find(b"\n")
            if end < 0:
                self.skipped += len(chunk)
                return found
            found.append(self._too_long(self.skipped + end))
            start = end + 1
        last = chunk.rfind(b"\n", start)
        if last < 0:
            self._keep(chunk, start)
            return found
        lines = chunk[start:last].split(b"\n")
        if self.partial:
            self.partial += lines[0]
            lines[0] = bytes(self.partial)
            self.partial.clear()
        self._number(lines, found)
        self._keep(chunk, last + 1)
        return found

    def finish(self) -> list[NumberedLine | BadLine]:
        """The last line, when the object does not end with a newline."""
        found: list[NumberedLine | BadLine] = []
        if self.skipped:
            found.append(self._too_long(self.skipped))
        elif self.partial:
            self._number([bytes(self.partial)], found)
        return found

    def stop(self, reason: str, error: str) -> BadLine:
        """The bad line for a stream that broke during the line in progress."""
        return BadLine(self.number, reason, f"{error}; line {self.number} and any after it not read")

    def _number(self, lines: list[bytes], found: list[NumberedLine | BadLine]) -> None:
        """Number whole lines, keeping the non-blank ones and refusing those over the cap."""
        number = self.number
        for line in lines:
            if len(line) > MAX_LINE_BYTES:
                found.append(BadLine(number, "line_too_long", f"{len(line)} bytes, over the {MAX_LINE_BYTES}-byte cap"))
            elif line and not line.isspace():  # bytes.isspace: exactly LINE_WHITESPACE (there is no \n)
                found.append((number, line))
            number += 1
        self.number = number

    def _too_long(self, length: int) -> BadLine:
        bad = BadLine(self.number, "line_too_long", f"{length} bytes, over the {MAX_LINE_BYTES}-byte cap (skipped)")
        self.skipped = 0
        self.number += 1
        return bad

    def _keep(self, chunk: bytes, start: int) -> None:
        """Add `chunk[start:]` (no newline in it) to the line in progress, or start skipping it."""
        if len(self.partial) + len(chunk) - start > MAX_LINE_BYTES:
            self.skipped = len(self.partial) + len(chunk) - start
            self.partial.clear()
        else:
            self.partial += memoryview(chunk)[start:]
