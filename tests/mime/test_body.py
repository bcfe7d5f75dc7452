"""The text body: HTML converted to text when there is no text part, and the caps."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.mime.body import TEXT_CAP, HtmlToText
from pipelines.mime.message import ParsedMessage
from pipelines.mime.parse import parse_message
from pipelines.mime.stream import parse_message_stream
from tests.mime.messages import fields, mail


def test_html_only_body_becomes_text(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["html_only"]
    assert m.text_body == "Hola Ana,\n\nTu pedido 1234 llegó.\n\nTotal 50 €"
    assert m.body_from_html and m.has_html


def test_html_conversion_failure_falls_back_to_stripping_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(self: object, html: str) -> str:
        raise IndexError("html2text bug")

    monkeypatch.setattr(HtmlToText, "handle", crash)
    m = parse_message(mail("Content-Type: text/html", "<p>Hola &amp; adi&oacute;s</p>"))
    assert (m.text_body, m.warnings) == ("Hola & adiós", ["html_unconvertible"])


def test_body_is_capped(tmp_path: Path) -> None:
    raw = mail("Content-Type: text/plain; charset=utf-8", "ñ" * (TEXT_CAP + 10))
    m = parse_message(raw)
    assert len(m.text_body) == TEXT_CAP and "body_truncated" in m.warnings
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)
