"""The Firehose objects of a run → batches of numbered lines for the two normalizers, one object at a time.

Objects are fetched a group at a time on FETCH_THREADS threads (a group holds about FETCH_GROUP_BYTES
of listed, possibly gzip, bytes), the next group while the current one is read; an object listed
over IN_MEMORY_OBJECT_BYTES is downloaded to a temporary file and read from disk instead. Each
object is then read as a stream by
`pipelines.events.lines.read_lines`, and its lines go into the current batch, which is handed on
once it holds BATCH_BYTES or BATCH_LINES lines, so an object may span batches. Memory
therefore depends on these constants, never on what an object holds.

Whatever a single object causes stays with that object: a failed fetch (any exception) is reported
in `LineBatch.fetch_failures` and the object is not read; a line or a break in the stream that
`read_lines` refuses is reported in `LineBatch.unread`, and so is an object listed over
`lines.MAX_FILE_BYTES`, which is not fetched (no Firehose delivery is that large, and no more than
that would be read of it: this bounds disk and time as the cap bounds memory).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipelines.events.bulk import BulkLines
from pipelines.events.lines import MAX_FILE_BYTES, TOO_LARGE, BadLine, NumberedLine, read_lines
from pipelines.storage.objects import ObjectInfo, ObjectStore

FETCH_THREADS = 8
"""Objects fetched at once (S3 latency, not bandwidth, is what a small object costs)."""
FETCH_GROUP_BYTES = 16 * 1024 * 1024
"""Listed (possibly gzip) bytes of the objects fetched together before they are read (16 MiB): enough
objects to keep FETCH_THREADS busy, little enough to hold in memory (two groups at a time: the one
read and the next, fetched meanwhile)."""
IN_MEMORY_OBJECT_BYTES = 16 * 1024 * 1024
"""Objects listed larger than this (16 MiB) are downloaded to a temporary file rather than held in memory."""
BATCH_BYTES = 16 * 1024 * 1024
"""Bytes of lines (and of the texts made of them for DuckDB) normalized together, 16 MiB: DuckDB's
per-statement cost is spread over thousands of lines, and two batches (the one normalized and the
one read meanwhile), each held as lists and then as an Arrow table, stay well within the process's
512 MB beside the staging database's 256 MB."""
BATCH_LINES = 65_536
"""Lines normalized together at most, so a batch of tiny lines (each a Python object, and for a bad line
a quarantine row) stays as small as a batch of real ones."""


@dataclass(frozen=True)
class LineBatch:
    lines: BulkLines
    """The batch's lines, their table for `normalize_batch` already built (on the reading thread)."""
    unread: list[tuple[ObjectInfo, BadLine]]
    """Lines (or the rest of an object) that `read_lines` refused, in the order they were met."""
    fetch_failures: list[tuple[ObjectInfo, BadLine]]
    """Objects that could not be fetched at all."""
    files: dict[str, ObjectInfo]
    """Every object read into this batch (or read on from an earlier one), by key."""


class _Collecting:
    """A batch being filled."""

    def __init__(self) -> None:
        self.lines = BulkLines()
        self.unread: list[tuple[ObjectInfo, BadLine]] = []
        self.fetch_failures: list[tuple[ObjectInfo, BadLine]] = []
        self.files: dict[str, ObjectInfo] = {}

    def full(self) -> bool:
        return len(self.lines) >= BATCH_LINES or self.lines.size >= BATCH_BYTES

    def empty(self) -> bool:
        return not (len(self.lines) or self.unread or self.fetch_failures)

    def batch(self) -> LineBatch:
        self.lines.table()
        return LineBatch(self.lines, self.unread, self.fetch_failures, self.files)


def read_batches(store: ObjectStore, files: list[ObjectInfo], scratch: Path) -> Iterator[LineBatch]:
    """Batches of the lines of `files`, in order; temporary downloads go to folder `scratch`."""
    batch = _Collecting()
    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        groups = _groups(files)
        fetching = _fetch_group(pool, store, next(groups, []), scratch)
        while fetching:  # the next group is fetched while this one is read
            current, fetching = fetching, _fetch_group(pool, store, next(groups, []), scratch)
            for info, fetched in current:
                content = fetched.result()
                batch.files[info.key] = info
                if isinstance(content, BadLine):
                    (batch.unread if content.reason == TOO_LARGE else batch.fetch_failures).append((info, content))
                    continue
                for item in _object_lines(content):
                    if isinstance(item, BadLine):
                        batch.unread.append((info, item))
                    else:
                        batch.lines.add(info.key, *item)
                        if batch.full():
                            yield batch.batch()
                            batch = _Collecting()
                            batch.files[info.key] = info
    if not batch.empty():
        yield batch.batch()


def _fetch_group(
    pool: ThreadPoolExecutor, store: ObjectStore, group: list[ObjectInfo], scratch: Path
) -> list[tuple[ObjectInfo, Future]]:
    """Start fetching the objects of `group` on `pool`."""
    return [(info, pool.submit(_fetch, store, info, scratch)) for info in group]


def _groups(files: list[ObjectInfo]) -> Iterator[list[ObjectInfo]]:
    group: list[ObjectInfo] = []
    size = 0
    for info in files:
        group.append(info)
        size += info.size
        if size >= FETCH_GROUP_BYTES:
            yield group
            group, size = [], 0
    if group:
        yield group


def _fetch(store: ObjectStore, info: ObjectInfo, scratch: Path) -> bytes | Path | BadLine:
    """The object's bytes, or the temporary file holding a large one, or why it could not be fetched."""
    if info.size > MAX_FILE_BYTES:
        return BadLine(None, TOO_LARGE, f"listed at {info.size} bytes, over the {MAX_FILE_BYTES}-byte cap: not fetched")
    path = scratch / f"object-{uuid.uuid4().hex}"
    try:
        if info.size <= IN_MEMORY_OBJECT_BYTES:
            return store.get(info.key)
        store.download(info.key, path)
        return path
    except Exception as exc:  # any failure to fetch one object stays with that object
        path.unlink(missing_ok=True)
        return BadLine(None, "read_failed", f"{type(exc).__name__}: {exc}")


def _object_lines(content: bytes | Path) -> Iterator[NumberedLine | BadLine]:
    """`read_lines` over fetched bytes or a downloaded file (removed once read)."""
    if isinstance(content, bytes):
        yield from read_lines(io.BytesIO(content))
        return
    try:
        with content.open("rb") as stream:
            yield from read_lines(stream)
    except OSError as exc:  # the downloaded copy cannot be opened
        yield BadLine(None, "unreadable", f"{type(exc).__name__}: {exc}")
    finally:
        content.unlink(missing_ok=True)
