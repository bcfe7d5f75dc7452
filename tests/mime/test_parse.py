"""The entry points on whole messages: the fast path and the fallback agree on the hand-built
messages, and every path agrees on the real SES samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.mime.fallback import parse_fallback
from pipelines.mime.fast import parse_fast
from pipelines.mime.message import Address, ParsedMessage
from pipelines.mime.parse import parse_message, parse_message_file
from pipelines.mime.stream import parse_message_stream
from tests.conftest import REAL_SES
from tests.mime.messages import WELL_FORMED, fields


@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_fast_and_fallback_agree(parsed: dict[str, ParsedMessage], name: str) -> None:
    raw = WELL_FORMED[name]
    fast, fallback = parse_fast(raw), parse_fallback(raw)
    assert (fast.parser, fallback.parser) == ("fast", "fallback")
    assert fields(fast) == fields(fallback)
    assert fields(parsed[name]) == fields(fast)


# --------------------------------------------------------------------------------------------
# Real SES mail


REAL_EXPECTED = {
    "russian_spam_incoming.email": (
        "Приглашение | Зачем и как вести бизнес в Африке?",
        Address("hello@ac.spam.example.com", "АФРИКА ЗОВЁТ!"),
    ),
    "emperor_norton_incoming.email": (
        "Declaration and Meeting of the Union",
        Address("norton@sf.us.example.com", "Norton I., Emperor of the United States"),
    ),
    "nested_brackets_service_incoming.email": (
        "Welcome to our service!",
        Address("hello@theservice.example.com", "The Service"),
    ),
    "encoded_trailing_newline_incoming.email": (
        "An encoded newline",
        Address("newline@trouble.example.com", "New Line Trouble"),
    ),
    "uber_otp_only_html_incoming.email": (
        "Welcome to Uber",
        Address("testing-otps@luffy.mozmail.com", "admin@uber.com [via Relay]"),
    ),
    "inline_image_incoming.email": ("Test Email", Address("friend@mail.example.com", "Your Friend")),
}


def real_samples() -> list[Path]:
    return sorted(REAL_SES.glob("*.email")) if REAL_SES.exists() else []


@pytest.mark.parametrize("path", real_samples(), ids=lambda p: p.name)
def test_real_samples_parse_alike_on_every_path(path: Path) -> None:
    raw = path.read_bytes()
    m = parse_message(raw)
    assert m.parser == "fast" and m.size_bytes == len(raw)
    assert fields(parse_fallback(raw)) == fields(m)
    assert fields(parse_message_stream(path)) == fields(m)
    if path.name in REAL_EXPECTED:
        assert (m.subject, m.from_) == REAL_EXPECTED[path.name]


def test_real_sample_details() -> None:
    if not REAL_SES.exists():
        pytest.skip("shared samples are not beside the repository")
    norton = parse_message_file(REAL_SES / "emperor_norton_incoming.email")
    assert norton.date is None and norton.date_raw == "Sat, 17 Sep 1859 11:33:12 -0700"
    assert norton.warnings == ["date_invalid"]
    uber = parse_message_file(REAL_SES / "uber_otp_only_html_incoming.email")
    assert uber.body_from_html and "Verification code:\n\n1973" in uber.text_body
    otp = parse_message_file(REAL_SES / "otp_mozilla_incoming.email")
    assert otp.message_id == "[d7c5838b5ab944f89e3f0c1b85674aef====@example.com]"
    assert "Use this confirmation code:\n376637" in otp.text_body
    image = parse_message_file(REAL_SES / "inline_image_incoming.email")
    [png] = image.attachments
    assert (png.filename, png.disposition, png.content_id) == (
        "clock-purple.png",
        "inline",
        "0A0AD2F8-6672-45A8-8248-0AC6C7282970",
    )
    spam = parse_message_file(REAL_SES / "russian_spam_incoming.email")
    assert spam.forwarded_to == ["ebsbdsan7@test.com"]
    assert spam.ses.spf_verdict is None  # Google's Received-SPF is not SES's verdict
