"""Reading a Firehose object as bounded lines: the same lines whatever the chunking, caps on line and
object size with clear reasons, the whole lines before a break in a gzip stream kept, and memory that
does not grow with what the object decompresses to."""

from __future__ import annotations

import gzip
import io
import tracemalloc
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from pipelines.events import lines as lines_module
from pipelines.events.lines import MAX_FILE_BYTES, MAX_LINE_BYTES, BadLine, read_lines
from pipelines.generator.hostile_events import (
    corrupt_gzip,
    enormous_line_file,
    event_line,
    gzip_bomb,
    ndjson,
    truncated_gzip,
)
from tests.conftest import fuzz_settings


def outcome(data: bytes) -> list[tuple[int, bytes] | tuple[int, str]]:
    """What read_lines gives, with each bad line as (number, reason)."""
    return [(i.line_number, i.reason) if isinstance(i, BadLine) else i for i in read_lines(io.BytesIO(data))]


def expected(data: bytes, cap: int) -> list[tuple[int, bytes] | tuple[int, str]]:
    """The same, read the plain way: split on newlines, over-long lines refused, blank ones skipped."""
    found = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if len(line) > cap:
            found.append((number, "line_too_long"))
        elif line.strip(b" \t\r\x0b\x0c"):
            found.append((number, line))
    return found


@fuzz_settings(300)
@given(
    data=st.lists(st.sampled_from([b"\n", b"a", b"bc", b"{}", b" ", b"\r", b"\t\x0c", b"xyz" * 5]), max_size=60).map(
        b"".join
    ),
    chunk=st.integers(1, 24),
    cap=st.integers(1, 20),
    compress=st.booleans(),
)
def test_lines_are_the_same_whatever_the_chunk_size_and_cap(data, chunk, cap, compress):
    with (
        mock.patch.object(lines_module, "READ_CHUNK_BYTES", chunk),
        mock.patch.object(lines_module, "MAX_LINE_BYTES", cap),
    ):
        assert outcome(gzip.compress(data, mtime=0) if compress else data) == expected(data, cap)


def test_a_line_over_the_cap_is_refused_and_its_neighbours_are_read():
    data = enormous_line_file(
        3 * MAX_LINE_BYTES, before=[event_line(1), event_line(2)], after=[event_line(3)], compress=True
    )
    assert outcome(data) == [(1, event_line(1)), (2, event_line(2)), (3, "line_too_long"),
                             (4, event_line(3))]  # fmt: skip
    assert outcome(ndjson([b"x" * MAX_LINE_BYTES, b"y" * (MAX_LINE_BYTES + 1)])) == [
        (1, b"x" * MAX_LINE_BYTES),
        (2, "line_too_long"),
    ]


def test_a_truncated_gzip_keeps_the_whole_lines_before_the_cut():
    original = [event_line(seed) for seed in range(400)]
    found = outcome(truncated_gzip(ndjson(original), keep=0.5))
    *read, (stopped_at, reason) = found
    assert reason == "truncated_compression"
    assert 100 < stopped_at < 400  # about half the lines were read whole
    assert read == [(n, original[n - 1]) for n in range(1, stopped_at)]


def test_a_corrupt_gzip_is_one_bad_line_for_the_whole_object():
    """Damage inside a deflate stream first decompresses to garbage; only the CRC at the end shows it,
    so the reader marks the whole object, with nothing read after."""
    original = [event_line(seed) for seed in range(400)]
    for seed in range(5):
        found = outcome(corrupt_gzip(ndjson(original), seed=seed))
        assert found[-1] == (None, "bad_compression")
        assert all(isinstance(line, bytes) for _, line in found[:-1])
        assert any(line not in original for _, line in found[:-1])  # garbage came out before the CRC told


def test_a_bad_gzip_header_or_trailing_garbage_is_corrupt_and_a_bare_magic_is_truncated():
    """The reader reports these breaks; dropping the lines of a corrupt object is the ingest's job."""
    assert outcome(b"\x1f\x8b" + b"not gzip at all") == [(None, "bad_compression")]
    assert outcome(b"\x1f\x8b") == [(1, "truncated_compression")]
    trailing = outcome(gzip.compress(b"a\nb\n", mtime=0) + b"trailing garbage")
    assert trailing == [(1, b"a"), (2, b"b"), (None, "bad_compression")]


def test_a_decompression_bomb_is_read_up_to_the_cap_in_bounded_memory():
    bomb = gzip_bomb(MAX_FILE_BYTES + (8 << 20), before=[event_line(1), event_line(2)])
    assert len(bomb) < (MAX_FILE_BYTES >> 9)  # small compressed, huge decompressed
    tracemalloc.start()
    try:
        found = outcome(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == [(1, event_line(1)), (2, event_line(2)), (3, "file_too_large")]
    assert peak < 8 * MAX_LINE_BYTES  # a chunk and a line, not the 264 MiB the object holds


def test_a_bomb_of_many_lines_keeps_the_lines_within_the_cap():
    line = b"z" * 4095
    with mock.patch.object(lines_module, "MAX_FILE_BYTES", 1 << 20):
        found = outcome(gzip_bomb(2 << 20, fill=line + b"\n"))
    assert found[:-1] == [(n, line) for n in range(1, 257)]  # 256 lines of 4 KiB fill the first MiB
    assert found[-1] == (257, "file_too_large")


def test_a_150_mb_line_in_a_small_gzip_costs_a_chunk_of_memory():
    """The file that made DuckDB run out of memory: 150 MB of one line, about 150 KB compressed."""
    data = gzip_bomb(150_000_000, fill=b"x", before=[event_line(1)])
    assert len(data) < 200_000
    tracemalloc.start()
    try:
        found = outcome(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == [(1, event_line(1)), (2, "line_too_long")]
    assert peak < 8 * MAX_LINE_BYTES
