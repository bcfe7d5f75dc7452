"""Deterministic hostile Firehose event files and lines, for tests and benchmarks of the events ingest.

Whole files (bytes as they would sit in the bucket): `corrupt_gzip`, `truncated_gzip`, `gzip_bomb`
(a few KB that decompress to any size, in one gzip member), `enormous_line_file`. Lines:
`non_utf8_lines`, `bad_json_lines`, `wrong_shape_lines`, `deep_json_line`, `huge_number_lines`,
`lone_surrogate_lines`, `nul_byte_lines`. Line builders return `HostileLine`s: the bytes and the
quarantine reason the reference normalizer gives them (None for the few hostile-looking lines that
are valid events, such as an escaped `\\u0000` in a string), the way the archive generator writes
its ground truth. Line builders take an optional `template` event (a dict, default `event(n)`) to make their lines
from. Everything depends only on the arguments (and `seed`), never on time or chance.
"""

from __future__ import annotations

import gzip
import math
import random
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
"""A gzip member header: deflate, no flags, mtime 0, unknown OS (what `gzip_bomb` writes by hand)."""
BOMB_BLOCK_BYTES = 1 << 20
"""What `gzip_bomb` compresses once and repeats: 1 MiB."""


@dataclass(frozen=True)
class HostileLine:
    line: bytes
    expected: str | None
    """The quarantine reason the reference gives the line, or None when it is a valid event."""


def event(seed: int = 0, *, tenant: str = "t42", event_type: str = "Delivery") -> dict:
    """A valid SES event-publishing record (Delivery, Send or Open) of `tenant` (message tag `tenant`),
    unique per seed."""
    rng = random.Random(seed)
    message_id = f"0100019{rng.getrandbits(36):09x}-{rng.getrandbits(64):016x}-000000"
    recipient = f"customer{rng.randrange(10**6)}@example.com"
    stamp = f"2026-03-{1 + seed % 28:02d}T{seed % 24:02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.000Z"
    details = {
        "Delivery": ("delivery", {"timestamp": stamp, "recipients": [recipient], "smtpResponse": "250 2.0.0 OK"}),
        "Send": ("send", {}),
        "Open": ("open", {"timestamp": stamp, "ipAddress": "198.51.100.7", "userAgent": "Mozilla/5.0 (X11; Linux)"}),
    }
    detail_key, detail = details[event_type]
    mail = {
        "timestamp": stamp,
        "source": f"support@{tenant}.example.com",
        "messageId": message_id,
        "destination": [recipient],
        "tags": {"tenant": [tenant], "ses:configuration-set": [f"{tenant}-outbound"]},
    }
    return {"eventType": event_type, "mail": mail, detail_key: detail}


def event_line(seed: int = 0, *, tenant: str = "t42", event_type: str = "Delivery") -> bytes:
    """`event(...)` as a compact Firehose line."""
    return orjson.dumps(event(seed, tenant=tenant, event_type=event_type))


def ndjson(lines: Iterable[bytes]) -> bytes:
    """Lines as a Firehose object's bytes (newline after each)."""
    return b"".join(line + b"\n" for line in lines)


def gzip_bytes(data: bytes) -> bytes:
    """`data` gzip-compressed reproducibly (mtime 0)."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def corrupt_gzip(data: bytes, *, seed: int = 0, damage: int = 64, at: float = 0.5) -> bytes:
    """`data` gzip-compressed, then `damage` bytes from `at` (a fraction of the compressed length)
    overwritten with random bytes: the deflate stream or its checksum no longer holds."""
    compressed = bytearray(gzip_bytes(data))
    start = min(max(len(GZIP_HEADER), int(len(compressed) * at)), len(compressed) - 1)
    rng = random.Random(seed)
    for index in range(start, min(start + damage, len(compressed))):
        compressed[index] = rng.randrange(256)
    return bytes(compressed)


def truncated_gzip(data: bytes, *, keep: float = 0.5) -> bytes:
    """`data` gzip-compressed and cut after `keep` of its compressed bytes (as a failed upload would)."""
    compressed = gzip_bytes(data)
    return compressed[: max(len(GZIP_HEADER), int(len(compressed) * keep))]


def gzip_bomb(size: int, *, fill: bytes = b"0", before: Iterable[bytes] = ()) -> bytes:
    """One gzip member of a few KB per GiB that decompresses to the lines `before` followed by `size`
    bytes of `fill` (repeated; with no newline in `fill`, a single enormous last line).

    A 1 MiB block of fill is compressed once with a full flush, which makes its compressed form
    independent of what precedes it, and that form is repeated; only the CRC is computed over the
    whole, so building a bomb costs about as much as its compressed size."""
    head = ndjson(before)
    block = (fill * (BOMB_BLOCK_BYTES // len(fill) + 1))[:BOMB_BLOCK_BYTES]
    repeats, rest = divmod(size, BOMB_BLOCK_BYTES)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [GZIP_HEADER, compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)]
    crc = zlib.crc32(head)
    if repeats:
        repeated = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        flushed = repeated.compress(block) + repeated.flush(zlib.Z_FULL_FLUSH)
        parts.append(flushed * repeats)
        for _ in range(repeats):
            crc = zlib.crc32(block, crc)
    tail = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts.append(tail.compress(block[:rest]) + tail.flush(zlib.Z_FINISH))
    crc = zlib.crc32(block[:rest], crc)
    total = len(head) + size
    parts.append(crc.to_bytes(4, "little") + (total & 0xFFFFFFFF).to_bytes(4, "little"))
    return b"".join(parts)


def enormous_line(size: int, *, seed: int = 0) -> bytes:
    """A line of `size` bytes that begins like a valid event and never ends its padding string."""
    start = event_line(seed)[:-1] + b',"padding":"'
    return start + b"x" * max(0, size - len(start) - 2) + b'"}'


def enormous_line_file(
    size: int, *, before: Iterable[bytes] = (), after: Iterable[bytes] = (), compress: bool = False
) -> bytes:
    """A file of the lines `before`, one `enormous_line(size)` and the lines `after`."""
    data = ndjson([*before, enormous_line(size), *after])
    return gzip_bytes(data) if compress else data


def non_utf8_lines(template: dict | None = None) -> list[HostileLine]:
    """An event line with bytes that are not UTF-8: Latin-1, a stray continuation byte, an overlong
    encoding, a UTF-8-encoded surrogate, a truncated sequence and 0xFF."""
    base = orjson.dumps(template or event(1))
    cut = base.index(b'"messageId":"') + len(b'"messageId":"')
    bad_bytes = [b"caf\xe9", b"\x80", b"\xc0\xaf", b"\xed\xa0\xbd", b"\xe2\x82", b"\xff"]
    return [HostileLine(base[:cut] + bad + base[cut:], "not_utf8") for bad in bad_bytes]


def bad_json_lines(template: dict | None = None, *, seed: int = 0) -> list[HostileLine]:
    """Lines that are not JSON to a strict reader: truncated, trailing garbage or comma, NaN and
    Infinity, single quotes, comments, a byte-order mark, raw control characters, an unclosed string."""
    base = orjson.dumps(template or event(2))
    rng = random.Random(seed)
    lines = [
        base[: rng.randrange(10, len(base) - 1)],
        base + b"}",
        base[:-1] + b",}",
        base[:-1] + b',"x":NaN}',
        base[:-1] + b',"x":-Infinity}',
        base.replace(b'"', b"'"),
        b"/* comment */" + base,
        b"\xef\xbb\xbf" + base,
        base[:-1] + b',"x":"tab\there"}',
        base[:-1] + b',"x":"open}',
        b"{",
        b"eventType=Delivery",
    ]
    return [HostileLine(line, "bad_json") for line in lines]


def wrong_shape_lines(template: dict | None = None) -> list[HostileLine]:
    """JSON that is not a usable event: other top-level values, missing or mistyped required fields,
    a detail that is not an object, unknown types, an inbound notification, an SNS envelope of junk."""
    base = template or event(3)
    detail_key = next(k for k in base if k not in ("eventType", "mail"))
    cases: list[tuple[object, str]] = [
        ([1, 2], "bad_shape"),
        ("Delivery", "bad_shape"),
        (42, "bad_shape"),
        (None, "bad_shape"),
        ({}, "unknown_event_type"),
        ({**base, "eventType": "Teleport"}, "unknown_event_type"),
        ({**base, "eventType": ["Delivery"]}, "bad_shape"),
        ({**base, "mail": "mail"}, "bad_shape"),
        ({**base, "mail": {**base["mail"], "messageId": 12345}}, "bad_shape"),
        ({k: v for k, v in base.items() if k != "mail"}, "bad_shape"),
        ({**base, detail_key: "delivered"}, "bad_shape"),
        ({**base, detail_key: {"timestamp": "yesterday"}, "mail": {**base["mail"], "timestamp": 7}}, "bad_timestamp"),
        ({"notificationType": "Received", "mail": base["mail"]}, "not_an_event"),
        ({"Type": "Notification", "Message": "not json"}, "bad_json"),
        ({"Type": "Notification", "Message": "[1]"}, "bad_shape"),
    ]
    return [HostileLine(orjson.dumps(record), reason) for record, reason in cases]


def deep_json_line(depth: int, *, template: dict | None = None, where: str = "extra") -> HostileLine:
    """An event with `depth` nested arrays under key `where` of its detail ("extra" by default: a field
    nobody reads). orjson, the reference parser, refuses more than 1024 levels in all."""
    base = template or event(4)
    detail_key = next(k for k in base if k not in ("eventType", "mail"))
    marker = "__nested__"
    line = orjson.dumps({**base, detail_key: {**base[detail_key], where: marker}})
    nested = b"[" * depth + b"]" * depth
    line = line.replace(f'"{marker}"'.encode(), nested)
    return HostileLine(line, "bad_json" if depth + 2 > 1024 else None)


def huge_number_lines(digits: int = 40, *, template: dict | None = None) -> list[HostileLine]:
    """Events carrying numbers far outside 64 bits: integers of `digits` digits, a fraction with as
    many, and exponents past a double's range, in a field read as text and in one nobody reads. The
    reference reads a number as a double when it must, and refuses one that overflows it (`bad_json`)."""
    base = template or event(5)
    detail_key = next(k for k in base if k not in ("eventType", "mail"))
    marker = b'"__number__"'
    numbers = [b"9" * digits, b"-" + b"9" * digits, b"1" + b"0" * digits + b".5e-3", b"0." + b"3" * digits,
               b"1e400", b"-1e400", b"1e-400"]  # fmt: skip
    lines = []
    for number in numbers:
        reason = "bad_json" if math.isinf(float(number)) else None
        for field in ("smtpResponse", "extra"):
            record = {**base, detail_key: {**base[detail_key], field: "__number__"}}
            lines.append(HostileLine(orjson.dumps(record).replace(marker, number), reason))
    return lines


def lone_surrogate_lines(template: dict | None = None) -> list[HostileLine]:
    """Events whose strings hold a lone UTF-16 surrogate escape (`"\\ud83d"`), which no UTF-8 text can
    carry, in a required field and in a free one; and a proper pair, which is fine."""
    base = template or event(6)
    marker = b'"__text__"'
    lines = []
    for escaped, reason in ((rb'"\ud83d"', "bad_json"), (rb'"x\udc00y"', "bad_json"), (rb'"\ud83d\ude00"', None)):
        for field in ("messageId", "extra"):
            record = {**base, "mail": {**base["mail"], field: "__text__"}}
            lines.append(HostileLine(orjson.dumps(record).replace(marker, escaped), reason))
    return lines


def nul_byte_lines(template: dict | None = None) -> list[HostileLine]:
    """NUL bytes: raw inside a string and after the record (not JSON), and escaped as `\\u0000` inside
    a string (valid: the value holds a NUL character)."""
    base = orjson.dumps(template or event(7))
    cut = base.index(b'"messageId":"') + len(b'"messageId":"')
    return [
        HostileLine(base[:cut] + b"\x00" + base[cut:], "bad_json"),
        HostileLine(base + b"\x00", "bad_json"),
        HostileLine(b"\x00" * 64, "bad_json"),
        HostileLine(base[:cut] + rb"\u0000" + base[cut:], None),
    ]
