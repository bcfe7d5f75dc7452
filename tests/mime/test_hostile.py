"""Every family of hostile mail (`pipelines.generator.hostile_mail`) at a few small sizes: the parse returns a
message whose strings are all valid UTF-8, the walkers agree, and the result does not change between runs.
How long they take is measured by `bench/hostile.py`."""

from __future__ import annotations

import contextlib
import dataclasses
import io

import pytest

from pipelines.generator.hostile_mail import FAMILIES, MINIMUM_SIZE, ordinary
from pipelines.mime.fallback import parse_fallback
from pipelines.mime.fast import Unusable, parse_fast
from pipelines.mime.message import ParsedMessage
from pipelines.mime.parse import STREAM_THRESHOLD, parse_message
from pipelines.mime.stream import parse_stream
from tests.mime.messages import fields
from tests.mime.test_properties import strings

SIZES = (2_000, 40_000)
SMALL_FAMILIES = sorted(name for name in FAMILIES if name not in MINIMUM_SIZE)


def assert_valid(message: ParsedMessage) -> None:
    for text in strings(dataclasses.asdict(message)):
        text.encode("utf-8")  # raises on a lone surrogate


def assert_valid_and_agreed(raw: bytes) -> None:
    message = parse_message(raw)
    assert_valid(message)
    assert fields(parse_message(raw)) == fields(message)
    assert fields(parse_stream(io.BytesIO(raw), len(raw))) == fields(message)
    assert fields(parse_fallback(raw)) == fields(message)
    with contextlib.suppress(Unusable):  # the fast walker refuses, or agrees
        assert fields(parse_fast(raw)) == fields(message)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("family", SMALL_FAMILIES)
def test_hostile_family(family: str, size: int) -> None:
    raw = FAMILIES[family](size)
    assert raw == FAMILIES[family](size)  # the builders are deterministic
    assert_valid_and_agreed(raw)


@pytest.mark.parametrize("size", SIZES)
def test_ordinary_message_of_the_same_size(size: int) -> None:
    raw = ordinary(size)
    message = parse_message(raw)
    assert (message.parser, message.warnings, len(message.attachments)) == ("fast", [], 1)
    assert_valid_and_agreed(raw)


def test_stream_lines_family_is_streamed() -> None:
    raw = FAMILIES["stream_lines"](0)
    assert len(raw) > STREAM_THRESHOLD
    message = parse_message(raw)  # the streaming walker: the other walkers never see mail this large
    assert message.parser == "stream"
    assert message.text_body.startswith("--x\n--b0x\n--b0--x\n--x\n--b1x\n")
    assert message.warnings == ["body_truncated"]  # the text is longer than the cap, nothing else is wrong
    assert_valid(message)
