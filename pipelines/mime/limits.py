"""The structural limits every walker applies, each with what happens to mail beyond it.

Mail beyond a body limit is read as if it ended where the limit was reached: the walkers keep what came
before (headers, ids, verdicts, sizes, the body parts already complete) and flag the message with the
limit's warning. The limits are checked in one linear pass over the body (`pipelines.mime.structure`)
before any MIME library sees it, so the fast and fallback walkers are only ever handed the body up to
that point, and the streaming walker stops at the same byte. See the package docstring for the table.
"""

from __future__ import annotations

from pipelines.mime.message import MimeLimitError

TOO_LARGE = "too_large"
"""The quarantine reason of mail beyond what can be kept (here: the size limit; elsewhere, a parse that
outgrew its memory budget)."""

MESSAGE_SIZE_LIMIT = 64 * 1024 * 1024
"""Bytes of one object at most. SES accepts at most 40 MB of mail, in and out, so a larger object is not
mail SES handled: it is refused with `MimeLimitError` (reason ``too_large``) and quarantined unread."""

NESTING_LIMIT = 100
"""Multiparts open at once, the message's own included (Postfix's ``mime_nesting_limit``). The body is
read as ending after the header block of the multipart that would open one level more
(``limit_nesting``)."""

PART_LIMIT = 10_000
"""Body parts in one message, counted over all multiparts (ClamAV's ``MaxFiles``). The body is read as
ending before the delimiter that would start one more (``limit_parts``)."""

PART_HEADER_LIMIT = 32 * 1024
"""Bytes of one part's header block. The body is read as ending before the header line that would make it
longer (``limit_part_header_size``)."""

PART_HEADER_LINES_LIMIT = 100_000
"""Header lines of all parts together (continuation lines included): what the MIME libraries hold one
object per line for. The body is read as ending before the header line past it
(``limit_part_header_lines``)."""

LINE_LENGTH_LIMIT = 64 * 1024
"""Bytes of a line looked at once to tell a delimiter or a header line; longer lines are read on in
pieces, at any length, as body text. A line that starts with an open multipart's delimiter and is still
nothing but that delimiter and blanks after this many bytes cannot be told from the delimiter without
reading on: the body is read as ending before it (``limit_line_length``)."""

HEADER_FIELD_LIMIT = 1_000
"""Fields of the message's own header block that are read; later fields are skipped
(``limit_header_fields``). The block itself is also capped in bytes (`pipelines.mime.headers`)."""

HTML_NESTING_LIMIT = 100
"""Lists and blockquotes open at once in an HTML body converted to text. html2text's work and output grow
with the square of that depth; deeper HTML is converted by a simple linear converter instead
(``limit_html_nesting``)."""

HTML_SCAN_FACTOR = 8
"""How many bytes, per byte of HTML, Python's HTML parser (under html2text) may be expected to rescan.
Unterminated tags, quotes or comments make it rescan the rest of the document once per construct;
when a linear estimate of that work exceeds this factor the simple converter reads the HTML instead
(``html_unconvertible``)."""

FALLBACK_BUDGET = 5_000_000
"""Work, in units of about 0.06 µs, the stdlib parser of the fallback walker is given: it tests every line
against every open boundary (10 units a line plus one per open multipart) and compiles a regular
expression for every multipart (7,000 units each). A message estimated above this (millions of short
lines inside deep multiparts, thousands of multiparts) is read by the streaming walker from memory
instead: the same fields, ``parser == 'stream'``."""
FALLBACK_MULTIPART_COST = 7_000
"""Units of `FALLBACK_BUDGET` one multipart costs the stdlib parser."""


def check_size(size: int) -> None:
    """Refuse an object larger than `MESSAGE_SIZE_LIMIT` (MimeLimitError, reason ``too_large``)."""
    if size > MESSAGE_SIZE_LIMIT:
        raise MimeLimitError(
            f"too large to be mail: {size} bytes, over the limit of {MESSAGE_SIZE_LIMIT}",
            TOO_LARGE,
            MESSAGE_SIZE_LIMIT,
        )
