"""The streaming parser agrees with the in-memory paths, and holds little of a large message."""

from __future__ import annotations

import quopri
import random
import tracemalloc
from pathlib import Path

import pytest

from pipelines.mime import parse
from pipelines.mime.fast import parse_fast
from pipelines.mime.message import ParsedMessage
from pipelines.mime.parse import parse_message, parse_message_file
from pipelines.mime.stream import parse_message_stream
from tests.conftest import COMPOSED_SES
from tests.mime.messages import FORWARDED, PDF_PART, SPANISH, WELL_FORMED, b64, fields, mail, multipart


@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_stream_agrees_with_memory(parsed: dict[str, ParsedMessage], name: str, tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(WELL_FORMED[name])
    streamed = parse_message_stream(path)
    assert streamed.parser == "stream"
    assert fields(streamed) == fields(parsed[name])


# --------------------------------------------------------------------------------------------
# Large messages


@pytest.fixture(scope="module")
def large_message(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 13 MB: SES headers, a long quoted text part, its HTML twin and a 7 MB attachment."""
    rng = random.Random(42)
    ses = COMPOSED_SES.joinpath("received-headers.txt").read_bytes() if COMPOSED_SES.exists() else mail("")
    head, _, _ = ses.partition(b"\r\n\r\n")
    head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"Content-Type"))
    quoted = "".join(f"> {SPANISH} línea {i}\r\n" for i in range(20_000))
    body = multipart(
        "big",
        b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        + multipart(
            "alt",
            b"Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            + quopri.encodestring(f"Hola\r\n\r\n{quoted}".encode("cp1252")),
            b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + b64(f"<p>Hola</p><blockquote>{quoted}</blockquote>".encode()),
        ),
        PDF_PART,
        b'Content-Type: application/zip\r\nContent-Disposition: attachment; filename="datos.zip"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(rng.randbytes(7_000_000)),
        b"Content-Type: message/rfc822\r\n\r\n" + FORWARDED,
    )
    path = tmp_path_factory.mktemp("large") / "large.eml"
    path.write_bytes(head + b'\r\nContent-Type: multipart/mixed; boundary="big"\r\n\r\n' + body)
    return path


def test_stream_agrees_with_memory_on_a_large_message(large_message: Path) -> None:
    raw = large_message.read_bytes()
    assert len(raw) > 10_000_000
    in_memory = parse_fast(raw)
    streamed = parse_message_stream(large_message)
    assert fields(streamed) == fields(in_memory)
    assert [a.filename for a in streamed.attachments] == ["factura_año_2026.pdf", "datos.zip", None]
    assert streamed.attachments[1].size_bytes == 7_000_000
    assert streamed.text_body.startswith("Hola\n\n> " + SPANISH)


def test_stream_memory_stays_bounded(large_message: Path) -> None:
    tracemalloc.start()
    try:
        parse_message_stream(large_message)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The message is 13 MB, its attachments 9 MB. What is held is the text body: 1.7 MB of bytes,
    # decoded to 1.7 M characters (two bytes each here) and capped at 1 M. Attachments are not held.
    assert peak < 16 * 1024 * 1024


def test_large_messages_are_streamed(large_message: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = large_message.read_bytes()
    streamed = parse_message_file(large_message)  # above STREAM_THRESHOLD
    assert streamed.parser == "stream"
    assert fields(parse_message(raw)) == fields(streamed) and parse_message(raw).parser == "stream"
    monkeypatch.setattr(parse, "STREAM_THRESHOLD", 20 * 1024 * 1024)
    assert parse_message_file(large_message).parser == "fast"
