"""Charsets and RFC 2047 encoded words, in headers and bodies."""

from __future__ import annotations

import pytest

from pipelines.mime.charsets import decode_bytes, valid_text
from pipelines.mime.message import ParsedMessage
from pipelines.mime.parse import parse_message
from tests.mime.messages import PORTUGUESE, SPANISH, mail


def test_rfc2047_subject_split_across_words(parsed: dict[str, ParsedMessage]) -> None:
    # The ñ is split between two encoded words: its two bytes must be joined before decoding.
    assert parsed["subject_split_words"].subject == "Atención: ¿cuándo llega mi pedido? Señor Muñoz"
    assert parsed["portuguese_latin1_qp"].subject == PORTUGUESE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  =?utf-8?q?_hola?=   mundo\t ", "hola mundo"),
        ("=?iso-8859-1?q?Caf=E9?= y =?UTF-8?B?w7E=?=", "Café y ñ"),
        ("Re: =?utf-8?q?encoded_newline=0A?=", "Re: encoded newline"),
        ("=?utf-8*es?q?con_idioma?=", "con idioma"),
        ("=?utf-8?b?bm8gcGFkZGluZw?=", "no padding"),
        ("plain =?broken", "plain =?broken"),
    ],
)
def test_subject_decoding(value: str, expected: str) -> None:
    assert parse_message(mail(f"Subject: {value}", subject=None)).subject == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cp1252_qp", SPANISH + "\n"),
        ("latin1_label_cp1252_bytes_b64", SPANISH + "\n"),  # ISO-8859-1 is read as Windows-1252, as clients do
        ("utf8_b64", SPANISH),
        ("portuguese_latin1_qp", "Olá,\nNão recebi a confirmação do pedido. Este parágrafo é longo.\n"),
    ],
)
def test_body_charsets_and_transfer_encodings(parsed: dict[str, ParsedMessage], name: str, expected: str) -> None:
    m = parsed[name]
    assert m.text_body == expected
    assert (m.body_from_html, m.has_html, m.warnings) == (False, False, [])


def test_unknown_charset_in_body_and_subject() -> None:
    raw = mail(
        "Subject: =?x-klingon?q?caf=C3=A9?=\nContent-Type: text/plain; charset=x-klingon",
        b"caf\xc3\xa9 \xff\r\n",
        subject=None,
    )
    m = parse_message(raw)
    assert m.subject == "café"
    assert m.text_body == "café \ufffd\n"
    assert m.warnings == ["charset_unknown"]


NOT_TEXT_CODECS = ["unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "base64", "hex", "rot13"]


@pytest.mark.parametrize("charset", NOT_TEXT_CODECS)
def test_codecs_that_are_not_text_are_unknown_charsets(charset: str) -> None:
    raw = mail(
        f"Subject: =?{charset}?Q?=5Cud83d_caf=C3=A9?=\nContent-Type: text/plain; charset={charset}",
        b"\\ud83d caf\xc3\xa9 \\x00\r\n",
        subject=None,
    )
    m = parse_message(raw)
    assert m.subject == "\\ud83d café"  # read as UTF-8, never as escapes
    assert m.text_body == "\\ud83d café \\x00\n"
    assert m.warnings == ["charset_unknown"]


def test_lone_surrogates_never_leave_the_decoder() -> None:
    assert valid_text("a\ud83db\udc00") == "a\ufffdb\ufffd"
    assert valid_text("a\U0001f600") == "a\U0001f600"
    assert decode_bytes(b"+2D3-", "utf-7", []).encode("utf-8")
