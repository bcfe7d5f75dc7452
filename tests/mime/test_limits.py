"""The structural limits: mail at a limit is read whole, mail beyond it is read up to the limit and flagged
with the limit's warning, the same on every walker; an object too large to be mail is refused."""

from __future__ import annotations

import contextlib
import io
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.mime.fallback import parse_fallback
from pipelines.mime.fast import Unusable, parse_fast
from pipelines.mime.limits import (
    FALLBACK_BUDGET,
    HEADER_FIELD_LIMIT,
    HTML_NESTING_LIMIT,
    LINE_LENGTH_LIMIT,
    MESSAGE_SIZE_LIMIT,
    NESTING_LIMIT,
    PART_HEADER_LIMIT,
    PART_HEADER_LINES_LIMIT,
    PART_LIMIT,
)
from pipelines.mime.message import MimeLimitError, MimeParseError, ParsedMessage
from pipelines.mime.parse import parse_message, parse_message_file
from pipelines.mime.stream import parse_stream
from tests.mime.messages import INVOICE, PDF_PART, fields, mail, multipart, sha


def parse_everywhere(raw: bytes) -> ParsedMessage:
    """`parse_message`, after checking the fallback and streaming walkers give the same fields (and the fast
    one too, unless it refuses)."""
    message = parse_message(raw)
    streamed = parse_stream(io.BytesIO(raw), len(raw))
    assert fields(parse_fallback(raw)) == fields(streamed) == fields(message)
    with contextlib.suppress(Unusable):  # the fast walker refuses, or agrees
        assert fields(parse_fast(raw)) == fields(message)
    return message


def nested(levels: int, inner: bytes) -> bytes:
    """`levels` multiparts nested in one another (the message's own included) around `inner`."""
    body = inner
    for level in reversed(range(1, levels)):
        body = multipart(f"n{level}", f'Content-Type: multipart/mixed; boundary="n{level + 1}"\r\n\r\n'.encode() + body)
    return mail('Content-Type: multipart/mixed; boundary="n1"', body)


TEXT_PART = b"Content-Type: text/plain; charset=utf-8\r\n\r\ndeep text\r\n"


def test_nesting_at_the_limit_is_read_whole() -> None:
    m = parse_everywhere(nested(NESTING_LIMIT, multipart(f"n{NESTING_LIMIT}", TEXT_PART)))
    assert (m.text_body, m.warnings) == ("deep text\n", [])


def test_nesting_beyond_the_limit_is_read_up_to_it() -> None:
    deep = nested(NESTING_LIMIT + 1, multipart(f"n{NESTING_LIMIT + 1}", TEXT_PART))
    m = parse_everywhere(deep)
    assert "limit_nesting" in m.warnings
    assert "deep text" not in m.text_body
    with pytest.raises(Unusable):
        parse_fast(deep)  # fast-mail-parser never sees it


def test_what_came_before_a_limit_is_kept() -> None:
    bomb = nested(NESTING_LIMIT + 5, multipart(f"n{NESTING_LIMIT + 5}", TEXT_PART))
    _, _, bomb_body = bomb.partition(b"\r\n\r\n")
    raw = mail(
        'Content-Type: multipart/mixed; boundary="top"',
        multipart(
            "top",
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nkept text\r\n",
            PDF_PART,
            b'Content-Type: multipart/mixed; boundary="n1"\r\n\r\n' + bomb_body,
            b"Content-Type: text/plain\r\n\r\nafter the bomb\r\n",
        ),
    )
    m = parse_everywhere(raw)
    assert m.text_body == "kept text\n"
    assert [(a.filename, a.sha256) for a in m.attachments] == [("factura_año_2026.pdf", sha(INVOICE))]
    assert "limit_nesting" in m.warnings
    assert (m.message_id, m.subject, m.size_bytes) == ("m1@example.com", "prueba", len(raw))


def attachments(count: int) -> bytes:
    part = b"Content-Type: application/octet-stream\r\n\r\nx"
    return mail('Content-Type: multipart/mixed; boundary="p"', multipart("p", *[part] * count))


def test_part_count_at_the_limit_is_read_whole() -> None:
    m = parse_everywhere(attachments(PART_LIMIT))
    assert (len(m.attachments), m.warnings) == (PART_LIMIT, [])


def test_parts_beyond_the_limit_are_dropped() -> None:
    m = parse_everywhere(attachments(PART_LIMIT + 5))
    assert len(m.attachments) == PART_LIMIT
    assert "limit_parts" in m.warnings


def test_a_part_header_block_beyond_its_limit_ends_the_body() -> None:
    huge = b"Content-Type: text/plain\r\n" + b"X-Padding: " + b"p" * PART_HEADER_LIMIT + b"\r\n\r\nlost\r\n"
    raw = mail('Content-Type: multipart/mixed; boundary="h"', multipart("h", b"\r\nfirst\r\n", PDF_PART, huge))
    m = parse_everywhere(raw)
    assert m.text_body == "first\n"
    assert [a.sha256 for a in m.attachments] == [sha(INVOICE)]
    assert "limit_part_header_size" in m.warnings


def test_part_header_lines_beyond_their_limit_end_the_body() -> None:
    per_part = 100
    part = b"".join(b"X-%d: v\r\n" % i for i in range(per_part - 1)) + b"Content-Type: application/pdf\r\n\r\nx"
    count = PART_HEADER_LINES_LIMIT // per_part + 3
    m = parse_everywhere(mail('Content-Type: multipart/mixed; boundary="l"', multipart("l", *[part] * count)))
    assert len(m.attachments) == PART_HEADER_LINES_LIMIT // per_part
    assert "limit_part_header_lines" in m.warnings


def test_a_delimiter_padded_beyond_the_line_limit_ends_the_body() -> None:
    raw = mail(
        'Content-Type: multipart/mixed; boundary="d"',
        b"--d\r\nContent-Type: text/plain\r\n\r\nbefore\r\n--d" + b" " * LINE_LENGTH_LIMIT + b"\r\nafter\r\n--d--\r\n",
    )
    m = parse_everywhere(raw)
    assert m.text_body == "before"
    assert "limit_line_length" in m.warnings


def test_long_lines_that_are_not_delimiters_are_text() -> None:
    long_text = b"--d" + b"x" * (3 * LINE_LENGTH_LIMIT)
    raw = mail(
        'Content-Type: multipart/mixed; boundary="d"',
        b"--d\r\nContent-Type: text/plain\r\n\r\n" + long_text + b"\r\n--d--\r\n",
    )
    m = parse_everywhere(raw)
    assert (m.text_body, m.warnings) == (long_text.decode(), [])


def test_header_fields_beyond_the_limit_are_skipped() -> None:
    padding = "".join(f"X-Filler-{i}: v\n" for i in range(HEADER_FIELD_LIMIT))
    m = parse_everywhere(mail(padding + "Subject: too late", subject=None))
    assert m.subject == ""  # the 1,001st field onwards is not read
    assert m.from_ is not None and m.from_.address == "ana@example.com"
    assert "limit_header_fields" in m.warnings


@pytest.mark.parametrize(
    ("depth", "warnings"), [(HTML_NESTING_LIMIT, []), (HTML_NESTING_LIMIT + 1, ["limit_html_nesting"])]
)
def test_deeply_nested_html_is_converted_by_the_simple_converter(depth: int, warnings: list[str]) -> None:
    m = parse_everywhere(mail("Content-Type: text/html", "<ul><li>punto" * depth + "<p>fin &amp; listo</p>"))
    assert m.warnings == warnings
    assert m.text_body.split()[0] in ("punto", "*") and m.text_body.endswith("fin & listo")


def test_html_that_would_make_the_html_parser_rescan_is_converted_simply() -> None:
    m = parse_everywhere(mail("Content-Type: text/html", "<p>hola</p>" + "<a b='" * 20_000))
    assert m.warnings == ["html_unconvertible"]
    assert m.text_body.startswith("hola")


def test_an_object_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MimeLimitError) as refused:
        parse_message(b"x" * (MESSAGE_SIZE_LIMIT + 1))
    assert (refused.value.reason, refused.value.limit) == ("too_large", MESSAGE_SIZE_LIMIT)
    assert isinstance(refused.value, MimeParseError)  # callers that know only MimeParseError still quarantine it
    copied = pickle.loads(pickle.dumps(refused.value))  # as a worker process hands it back
    assert (type(copied), str(copied), copied.reason, copied.limit) == (
        MimeLimitError,
        str(refused.value),
        "too_large",
        MESSAGE_SIZE_LIMIT,
    )
    sparse = tmp_path / "huge.eml"
    with sparse.open("wb") as fh:
        fh.truncate(MESSAGE_SIZE_LIMIT + 1)
    with pytest.raises(MimeLimitError, match="too large"):
        parse_message_file(sparse)


def test_refusals_carry_their_quarantine_reason() -> None:
    reasons = []
    for raw in (b"", b" \r\n", bytes(range(256)) * 8):
        with pytest.raises(MimeParseError) as refused:
            parse_message(raw)
        reasons.append(pickle.loads(pickle.dumps(refused.value)).reason)
    assert reasons == ["empty_object", "not_mail", "not_mail"]  # what the ingest maps today: empty means 0 bytes


def test_mail_too_costly_for_the_stdlib_is_read_by_the_streaming_walker() -> None:
    lines = FALLBACK_BUDGET // (10 + 1) + 1  # lines x (10 + nesting depth)
    raw = mail('Content-Type: multipart/mixed; boundary="s"', b"--s\r\n\r\n" + b"x\n" * lines)  # never closed
    m = parse_message(raw)
    assert m.parser == "stream"
    assert fields(m) == fields(parse_fallback(raw))
    assert m.warnings == ["multipart_unterminated"]


MEMORY_PROBE = """
from pathlib import Path

from pipelines.generator.hostile_mail import part_count
from pipelines.mime.parse import parse_message

def kb(field):
    return next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith(field + ":"))

raw = part_count(7_000_000)
before = kb("VmRSS")
message = parse_message(raw)
print(len(raw), message.text_body, (kb("VmHWM") - before) // 1024, ",".join(message.warnings))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from /proc")
def test_hundreds_of_thousands_of_tiny_parts_cost_little_memory() -> None:
    # A fresh process, so its peak resident memory is the parse's own.
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True, check=True)
    size, text, growth_mb, warnings = probe.stdout.split()
    assert int(size) > 6_000_000  # 700,000 parts of 10 bytes
    assert (text, warnings) == ("x", "limit_parts,multipart_unterminated")
    assert int(growth_mb) < 64
