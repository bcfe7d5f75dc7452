"""Transfer decoding: damaged base64, raw 8-bit bytes inside quoted-printable."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.mime.fast import parse_fast
from pipelines.mime.parse import parse_message
from pipelines.mime.stream import parse_message_stream
from tests.mime.messages import WELL_FORMED, fields, mail, multipart, sha


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        (b"aGVsbG8gd29ybGQ=!!*\r\n", b"hello world"),  # stray characters
        (b"aGVsbG8g\r\nd29ybG\r\n", b"hello worl"),  # missing padding
        (b"aGVs\xe9bG8=\r\n", b"hello"),  # an 8-bit byte
    ],
)
def test_bad_base64_decodes_what_it_can(encoded: bytes, decoded: bytes, tmp_path: Path) -> None:
    raw = mail(
        'Content-Type: multipart/mixed; boundary="b"',
        multipart(
            "b",
            b"Content-Type: text/plain\r\n\r\ntexto",
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + encoded,
        ),
    )
    m = parse_message(raw)
    assert m.parser == "fallback"
    assert "bad_base64" in m.warnings
    [attachment] = m.attachments
    assert (attachment.size_bytes, attachment.sha256) == (len(decoded), sha(decoded))
    assert m.text_body == "texto"
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)


def test_raw_8bit_bytes_in_quoted_printable_are_kept(tmp_path: Path) -> None:
    raw = mail(
        'Content-Type: multipart/alternative; boundary="b"',
        multipart(
            "b",
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            + "Señor Mu=C3=B1oz\r\n".encode(),
            b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>hola</p>",
        ),
    )
    m = parse_message(raw)
    assert m.text_body == "Señor Muñoz\n"
    assert m.parser == "fallback"  # fast-mail-parser would drop the raw 'ñ'
    assert parse_fast(WELL_FORMED["forwarded_8bit_beside_qp_text"]).parser == "fast"
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)
