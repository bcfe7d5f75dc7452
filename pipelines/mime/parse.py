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
from pipelines.mime.message import ParsedMessage
from pipelines.mime.stream import parse_message_stream, parse_stream

__all__ = [
    "HEADER_BLOCK_CAP",
    "HEADER_VALUE_CAP",
    "HTML_CAP",
    "STREAM_THRESHOLD",
    "TEXT_CAP",
    "extract_message_ids",
    "html_body",
    "normalize_address",
    "parse_message",
    "parse_message_file",
]

STREAM_THRESHOLD = 8 * 1024 * 1024
"""Messages larger than this are parsed by streaming them (SES stores messages up to 40 MB)."""


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message held in memory: fast path first, the careful fallback when it cannot;
    above `STREAM_THRESHOLD` the streaming parser, so no decoded copy of a 40 MB mail is made.

    Raises MimeParseError only for input that is not mail at all (empty, binary, no header block).
    """
    if len(raw) > STREAM_THRESHOLD:
        return parse_stream(io.BytesIO(raw), len(raw))
    head = read_head(raw)
    try:
        body, parser = fast_body(head, raw), "fast"
    except Unusable:
        body, parser = fallback_body(head, raw), "fallback"
    return assemble(head, body, len(raw), parser)


def parse_message_file(path: Path) -> ParsedMessage:
    """Parse a stored message; files above `STREAM_THRESHOLD` are streamed from disk, never read whole."""
    if path.stat().st_size > STREAM_THRESHOLD:
        return parse_message_stream(path)
    return parse_message(path.read_bytes())


def html_body(raw: bytes) -> str | None:
    """The message's HTML part decoded to text (the one a mail client would show), or None.

    The parse above keeps only plain text for the lake; the live hand-off reads the HTML part with the
    standard library's message API when it needs to pass it on."""
    import email
    import email.policy

    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        part = message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else None
    except Exception:  # noqa: BLE001 - a broken part means no HTML to pass on, not a failed hand-off
        return None
