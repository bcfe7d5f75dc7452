"""The top-level header block: 8-bit headers, a missing separator, junk lines, caps, and input that
is not mail at all."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipelines.mime.headers import HEADER_VALUE_CAP
from pipelines.mime.message import Address, MimeParseError, ParsedMessage
from pipelines.mime.parse import parse_message
from pipelines.mime.stream import parse_message_stream
from tests.mime.messages import fields, mail


def test_raw_8bit_headers(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["raw_8bit_headers"]
    assert m.from_ == Address("jose@example.com", "José")
    assert m.to == [Address("munoz@example.com", "Muñoz")]
    assert m.subject == "Café – 50 €"


def test_missing_header_body_separator() -> None:
    m = parse_message(
        b"From: a@example.com\nSubject: sin separador\nDate: Tue, 3 Mar 2026 10:00:00 +0000\nHola, esto es el cuerpo.\n"
    )
    assert m.subject == "sin separador"
    assert m.text_body == "Hola, esto es el cuerpo.\n"
    assert m.warnings == ["header_separator_missing"]


def test_garbage_lines_before_headers_and_between_parts(tmp_path: Path) -> None:
    raw = b">garbage line\r\n" + mail(
        'Content-Type: multipart/alternative; boundary="b"',
        b"preamble junk\r\n--b\r\nContent-Type: text/plain\r\n\r\nbueno\r\n--b\r\nnot a header\r\nstill body\r\n"
        b"--b--\r\nepilogue junk\r\n",
    )
    m = parse_message(raw)
    assert m.warnings == ["header_garbage"]
    assert m.text_body == "bueno"
    assert m.parser == "fallback"  # fast-mail-parser would read 'not a header' as a header
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)


def test_mbox_from_line_is_skipped() -> None:
    m = parse_message(b"From ana@example.com Tue Mar  3 10:00:00 2026\n" + mail(""))
    assert (m.from_, m.warnings) == (Address("ana@example.com", "Ana"), [])


def test_huge_to_header_is_capped() -> None:
    to = ", ".join(f"User {i} <user{i}@Example.COM>" for i in range(20_000))
    m = parse_message(mail(f"To: {to}", to=None))
    assert m.warnings == ["header_truncated"]  # cut between two addresses, not inside one
    assert 1_000 < len(m.to) < 20_000
    assert m.to[0] == Address("user0@example.com", "User 0")
    assert m.to[-1] == Address(f"user{len(m.to) - 1}@example.com", f"User {len(m.to) - 1}")


def test_huge_references_keep_root_and_newest() -> None:
    references = " ".join(f"<id{i}@example.com>" for i in range(50_000))
    m = parse_message(mail(f"References: {references}\nIn-Reply-To: <id49999@example.com>"))
    assert m.warnings == ["header_truncated"]
    assert m.reference_ids[0] == "id0@example.com"
    assert m.reference_ids[-1] == "id49999@example.com"
    assert 1_000 < len(m.reference_ids) < 50_000
    assert len(m.references or "") <= HEADER_VALUE_CAP + 1


# --------------------------------------------------------------------------------------------
# Not mail at all


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty object"),
        (b" \r\n\r\n", "empty object"),
        (random.Random(7).randbytes(5000), "not a mail message: binary data"),
        (b"\x1f\x8b\x08\x00" + bytes(2000), "not a mail message: binary data"),
        (b'{"notificationType": "Received"}\n', "not a mail message: no mail headers"),
        (b"[1, 2, 3]\n", "not a mail message: no header block"),
        (b"hello\nthis is a note\nnot mail\n\nat all\nreally\n", "not a mail message: no header block"),
        (b"name: invoice\nvalue: 12\n", "not a mail message: no mail headers"),
    ],
)
def test_not_mail_raises_with_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MimeParseError, match=reason):
        parse_message(raw)
