"""MIME parts: attachments and their names (RFC 2231, RFC 2047), inline and forwarded parts, and
multiparts whose boundaries are missing, repeated or never closed."""

from __future__ import annotations

from pathlib import Path

from pipelines.mime.message import ParsedMessage
from pipelines.mime.parse import parse_message
from pipelines.mime.stream import parse_message_stream
from tests.mime.messages import FORWARDED, INVOICE, PDF_PART, PNG, PORTUGUESE, fields, mail, multipart, sha


def test_alternative_body_and_rfc2231_attachment(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["alternative_with_invoice"]
    assert m.text_body == f"{PORTUGUESE}\n\n> mensaje anterior\n"
    assert m.has_html and not m.body_from_html
    [pdf] = m.attachments
    assert pdf.filename == "factura_año_2026.pdf"
    assert (pdf.content_type, pdf.disposition, pdf.size_bytes) == ("application/pdf", "attachment", len(INVOICE))
    assert pdf.sha256 == sha(INVOICE)
    assert not pdf.is_forwarded_message


def test_filename_continuations_and_encoded_words(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["rfc2231_continuations_and_2047_names"]
    assert [(a.filename, a.sha256, a.disposition) for a in m.attachments] == [
        ("factura_año_2026.pdf", sha(INVOICE), "attachment"),
        ("factura_año_2026.pdf", sha(INVOICE), None),
    ]
    assert m.text_body == "adjunto"


def test_inline_image(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["inline_image"]
    [image] = m.attachments
    assert (image.content_type, image.disposition, image.content_id) == ("image/png", "inline", "logo@shop.example")
    assert (image.filename, image.size_bytes, image.sha256) == (None, len(PNG), sha(PNG))
    assert m.body_from_html and m.text_body == "Logo:"


def test_forwarded_message_is_one_attachment_and_not_body(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["forwarded_message"]
    assert m.text_body == "Te reenvío el pedido.\n"
    assert "INNER" not in m.text_body
    [forwarded] = m.attachments
    assert forwarded.is_forwarded_message and forwarded.content_type == "message/rfc822"
    assert forwarded.filename == "pedido.eml"
    assert (forwarded.size_bytes, forwarded.sha256) == (len(FORWARDED), sha(FORWARDED))


def test_unterminated_multipart(tmp_path: Path) -> None:
    raw = mail(
        'Content-Type: multipart/mixed; boundary="b"',
        multipart("b", b"Content-Type: text/plain\r\n\r\ncuerpo\r\n", PDF_PART, close=False),
    )
    m = parse_message(raw)
    assert m.parser == "fallback"
    assert m.warnings == ["multipart_unterminated"]
    assert m.text_body == "cuerpo\n"
    assert [(a.filename, a.sha256) for a in m.attachments] == [("factura_año_2026.pdf", sha(INVOICE))]
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)


def test_multipart_without_boundary_is_read_as_text(tmp_path: Path) -> None:
    raw = mail("Content-Type: multipart/mixed", "just text, no parts\r\n")
    m = parse_message(raw)
    assert m.text_body == "just text, no parts\n"
    assert m.warnings == ["multipart_boundary_missing"]
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)


def test_repeated_delimiter_opens_no_part(tmp_path: Path) -> None:
    raw = mail(
        'Content-Type: multipart/alternative; boundary="b"',
        b"--b\r\n--b\r\nContent-Type: text/plain\r\n\r\nreal text\r\n--b--\r\n",
    )
    m = parse_message(raw)
    assert (m.text_body, m.warnings) == ("real text", [])
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)
