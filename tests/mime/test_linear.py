"""Each regular expression (or scan) once prone to super-linear backtracking on message text, on adversarial
input of growing size. The assertions are on results only; `bench/hostile.py` measures the time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from pipelines.mime.addresses import find_specs, read_addresses
from pipelines.mime.body import html2text_hazard, html_to_text, simple_html_to_text
from pipelines.mime.charsets import decode_words
from pipelines.mime.dates import parse_date
from pipelines.mime.message import Address
from pipelines.mime.transfer import transfer_decode

SIZES = (10, 1_000, 50_000)
HTML_SIZES = (10, 1_000, 10_000)


@pytest.mark.parametrize("n", SIZES)
def test_unclosed_encoded_words_are_kept_as_written(n: int) -> None:
    unclosed = "=?utf-8?q?abc " * n
    warnings: list[str] = []
    assert decode_words("=?utf-8?q?ok?= " + unclosed, warnings) == "ok " + unclosed
    assert decode_words(unclosed + "=?utf-8?b?w7E=?=", warnings) == decode_words(unclosed + "=?utf-8?b?w7E=?=", [])
    assert decode_words("=?" * n + "x", warnings) == "=?" * n + "x"
    assert warnings == []


@pytest.mark.parametrize("n", SIZES)
def test_spaces_inside_an_address(n: int) -> None:
    warnings: list[str] = []
    assert read_addresses("Ana" + " " * n + "<ana@example.com>", warnings) == [Address("ana@example.com", "Ana")]
    assert read_addresses("Ana" + " " * n + "<ana@example.com", warnings) == [Address("ana@example.com", "Ana")]
    assert warnings == []
    assert read_addresses(" " * n + "x", warnings) == []
    assert warnings == ["address_unparseable"]


OLD_ADDR_SPEC = re.compile(r"[^\s<>,;\"]+@[^\s<>,;\"]+")
"""The pattern `find_specs` replaces (quadratic on a long run without '@'), as the oracle on small input."""


@pytest.mark.parametrize("n", SIZES)
def test_bare_addresses_among_junk(n: int) -> None:
    assert find_specs("a" * n) == []
    assert find_specs("a" * n + "@b c@ <d@e>") == ["a" * n + "@b", "d@e"]
    assert find_specs("x@" * n) == ["x@" * n]
    for value in ("a@b", "@a", "a@", "@@@", "a b@c, d@e;f", '"q"@r', "<x@y> z@"):
        assert find_specs(value) == OLD_ADDR_SPEC.findall(value)


@pytest.mark.parametrize("n", SIZES)
def test_blanks_after_a_date(n: int) -> None:
    expected = datetime(2026, 3, 3, 13, 0, tzinfo=UTC)
    assert parse_date("Tue, 3 Mar 2026 10:00:00 -0300" + " " * n) == expected
    assert parse_date("Tue, 3 Mar 2026 10:00:00 -0300 (ART)" + " " * n) == expected
    assert parse_date("Tue, 3 Mar 2026 10:00:00" + " " * n + "-0300") == expected
    assert parse_date("Tue," + " " * n + "x") is None


@pytest.mark.parametrize("n", HTML_SIZES)
def test_blanks_before_a_line_break_in_converted_html(n: int) -> None:
    html = "a" + "&nbsp;" * n + "b<br>c" + "&nbsp;" * n + "<br>d"
    assert html_to_text(html, []) == "a" + "\xa0" * n + "b\nc\nd"


@pytest.mark.parametrize("n", SIZES)
def test_trailing_blanks_in_quoted_printable(n: int) -> None:
    data = b"a" + b" " * n + b"b\r\nc" + b" " * n + b"\r\n" + b"=" + b" " * n + b"\r\nd"
    assert transfer_decode(data, "quoted-printable") == (b"a" + b" " * n + b"b\r\nc\r\nd", True)


@pytest.mark.parametrize("n", SIZES)
def test_unterminated_html_markup(n: int) -> None:
    assert simple_html_to_text("<a" * n) == "<a" * n
    assert simple_html_to_text("<" + "a" * n) == "<" + "a" * n
    assert simple_html_to_text("<p>x</p><!--" + "<b>" * n) == "\nx\n"
    assert simple_html_to_text("<style>" * n + "x") == ""
    hostile = "<p>hola</p>" + "<a b='" * n
    assert html2text_hazard(hostile) == ("html_unconvertible" if n >= 1_000 else None)
    assert html_to_text(hostile, []).startswith("hola")


@pytest.mark.parametrize("n", HTML_SIZES)
def test_nested_html_lists(n: int) -> None:
    html = "<ul><li>x" * n
    assert html2text_hazard(html) == ("limit_html_nesting" if n > 100 else None)
    warnings: list[str] = []
    assert html_to_text(html, warnings).split() == (["x"] * n if n > 100 else ["*", "x"] * n)
