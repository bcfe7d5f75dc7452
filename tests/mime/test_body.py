"""The text body (HTML converted to text when there is no text part), the HTML part, and their caps."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from pipelines.mime.body import HTML_CAP, TEXT_CAP, HtmlToText
from pipelines.mime.message import ParsedMessage
from pipelines.mime.parse import parse_message
from pipelines.mime.stream import parse_message_stream
from tests.mime.messages import PORTUGUESE, WELL_FORMED, fields, mail


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


# --------------------------------------------------------------------------------------------
# The HTML part


def stdlib_html(raw: bytes) -> str | None:
    """The HTML part as the stdlib's message API picks and decodes it, line breaks as LF."""
    part = email.message_from_bytes(raw, policy=email.policy.default).get_body(preferencelist=("html",))
    return None if part is None else part.get_content().replace("\r\n", "\n")


@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_html_part_is_the_one_a_mail_client_shows(parsed: dict[str, ParsedMessage], name: str) -> None:
    m = parsed[name]
    assert m.html == stdlib_html(WELL_FORMED[name])
    assert (m.html is not None) == m.has_html


def test_html_part_next_to_a_text_part(parsed: dict[str, ParsedMessage], tmp_path: Path) -> None:
    m = parsed["alternative_with_invoice"]
    assert m.html == f"<p>{PORTUGUESE}</p>" and not m.body_from_html
    path = tmp_path / "m.eml"
    path.write_bytes(WELL_FORMED["alternative_with_invoice"])
    assert parse_message_stream(path).html == m.html


def test_html_part_is_capped(tmp_path: Path) -> None:
    raw = mail("Content-Type: text/html; charset=utf-8", "<p>" + "ñ" * HTML_CAP + "</p>")
    m = parse_message(raw)
    assert m.html is not None and len(m.html) == HTML_CAP and m.html.startswith("<p>ñ")
    assert m.warnings == ["body_truncated", "html_truncated"]
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)
