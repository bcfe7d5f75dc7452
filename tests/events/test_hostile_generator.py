"""The hostile event builders: the same arguments give the same bytes, sizes are what was asked for,
and every hostile line gets from the reference normalizer the reason the builder says it does."""

from __future__ import annotations

import gzip
import zlib

import pytest

from pipelines.events.normalize import parse_lines
from pipelines.generator import hostile_events as hostile

LINE_BUILDERS = {
    "non_utf8": lambda: hostile.non_utf8_lines(),
    "bad_json": lambda: hostile.bad_json_lines(seed=3),
    "wrong_shapes": lambda: hostile.wrong_shape_lines(),
    "deep_json": lambda: [hostile.deep_json_line(depth) for depth in (1, 253, 254, 1021, 1022, 1023, 4000)],
    "huge_numbers_40": lambda: hostile.huge_number_lines(40),
    "huge_numbers_400": lambda: hostile.huge_number_lines(400),
    "lone_surrogates": lambda: hostile.lone_surrogate_lines(),
    "nul_bytes": lambda: hostile.nul_byte_lines(),
}


@pytest.mark.parametrize("name", LINE_BUILDERS)
def test_each_hostile_line_gets_the_reason_its_builder_gives(name):
    built = LINE_BUILDERS[name]()
    assert built == LINE_BUILDERS[name]()  # deterministic
    for number, line in enumerate(built, start=1):
        rows, bad = parse_lines([(number, line.line)], None)
        assert [b.reason for b in bad] == ([line.expected] if line.expected else []), line.line[:120]
        assert bool(rows) == (line.expected is None)


def test_a_gzip_bomb_is_one_small_member_of_the_requested_size():
    size = (5 << 20) + 12_345
    bomb = hostile.gzip_bomb(size, fill=b"ab\n", before=[hostile.event_line(1)])
    assert bomb == hostile.gzip_bomb(size, fill=b"ab\n", before=[hostile.event_line(1)])
    assert len(bomb) < size // 200
    data = gzip.decompress(bomb)  # checks the CRC and length trailer too
    head = hostile.event_line(1) + b"\n"
    assert len(data) == len(head) + size and data.startswith(head) and data[len(head) :].startswith(b"ab\nab\n")
    stream = zlib.decompressobj(wbits=31)
    stream.decompress(bomb)
    assert stream.eof and stream.unused_data == b""  # a single member, nothing after it


def test_damaged_gzips_fail_the_way_they_are_named():
    data = hostile.ndjson(hostile.event_line(seed) for seed in range(200))
    with pytest.raises(EOFError):
        gzip.decompress(hostile.truncated_gzip(data, keep=0.3))
    with pytest.raises((gzip.BadGzipFile, zlib.error)):
        gzip.decompress(hostile.corrupt_gzip(data, seed=4))
    assert hostile.corrupt_gzip(data, seed=4) == hostile.corrupt_gzip(data, seed=4)
    assert hostile.corrupt_gzip(data, seed=4) != hostile.corrupt_gzip(data, seed=5)


def test_an_enormous_line_has_the_requested_length_and_starts_like_an_event():
    line = hostile.enormous_line(3 << 20)
    assert len(line) == 3 << 20 and line.startswith(b'{"eventType":"Delivery"') and b"\n" not in line
