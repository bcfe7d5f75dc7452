"""The entry points: parse a message held in memory or stored in a file, on the fast path, the
fallback or the streaming walker (see the package docstring), plus the helpers the rest of the
project shares with the parser."""

from __future__ import annotations

import io
from pathlib import Path

from pipelines.mime.addresses import extract_message_ids, normalize_address
from pipelines.mime.assemble import assemble
from pipelines.mime.body import HTML_CAP, TEXT_CAP
from pipelines.mime.fallback import fallback_body
from pipelines.mime.fast import Unusable, fast_body
from pipelines.mime.headers import HEADER_BLOCK_CAP, HEADER_VALUE_CAP, read_head
from pipelines.mime.limits import FALLBACK_BUDGET, check_size
from pipelines.mime.message import ParsedMessage
from pipelines.mime.stream import parse_message_stream, parse_stream
from pipelines.mime.structure import fallback_cost, measure

__all__ = [
    "HEADER_BLOCK_CAP",
    "HEADER_VALUE_CAP",
    "HTML_CAP",
    "STREAM_THRESHOLD",
    "TEXT_CAP",
    "extract_message_ids",
    "normalize_address",
    "parse_message",
    "parse_message_file",
]

STREAM_THRESHOLD = 8 * 1024 * 1024
"""Messages larger than this are parsed by streaming them (SES stores messages up to 40 MB)."""


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message held in memory: one pass over its structure first (`measure`, which applies the
    structural limits), then the fast path, the careful fallback when it cannot; above
    `STREAM_THRESHOLD` the streaming parser, so no decoded copy of a 40 MB mail is made. A message the
    stdlib would need too long for (`FALLBACK_BUDGET`) is read by the streaming walker from memory.

    Raises MimeLimitError (a MimeParseError) above `MESSAGE_SIZE_LIMIT`, and MimeParseError for input
    that is not mail at all (empty, binary, no header block).
    """
    check_size(len(raw))
    if len(raw) > STREAM_THRESHOLD:
        return parse_stream(io.BytesIO(raw), len(raw))
    head = read_head(raw)
    shape = measure(head, raw)
    try:
        body, parser = fast_body(head, raw, shape), "fast"
    except Unusable:
        if fallback_cost(shape) > FALLBACK_BUDGET:
            return parse_stream(io.BytesIO(raw), len(raw))
        body, parser = fallback_body(head, raw, shape), "fallback"
    return assemble(head, body, len(raw), parser)


def parse_message_file(path: Path) -> ParsedMessage:
    """Parse a stored message; files above `STREAM_THRESHOLD` are streamed from disk, never read whole."""
    size = path.stat().st_size
    check_size(size)
    if size > STREAM_THRESHOLD:
        return parse_message_stream(path)
    return parse_message(path.read_bytes())
