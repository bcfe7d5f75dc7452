"""The top-level header block: find it, cap it, split it into the wanted fields, unfold them.

`read_head` is the only reader of a message's own headers on every path (the MIME libraries only see
the top level's Content-* headers and the body, see `mime_source`); it also decides what is not mail
at all. `header_fields` also splits the header lines of a part for the streaming walker.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from pipelines.mime.charsets import decode_8bit
from pipelines.mime.limits import HEADER_FIELD_LIMIT
from pipelines.mime.message import MimeParseError

HEADER_BLOCK_CAP = 4 * 1024 * 1024
"""Top-level header bytes read at most; the rest of an oversized block is skipped."""
HEADER_VALUE_CAP = 64 * 1024
"""Characters kept of one header value (about 2,500 addresses or 1,300 message ids)."""
_REFERENCES_HEAD = 2048
"""Characters kept from the start of an oversized References header (the thread root)."""

# Headers read from the top-level block; everything else is skipped unseen.
_ADDRESS_HEADERS = ("from", "sender", "reply-to", "to", "cc", "bcc")
FORWARD_HEADERS = ("x-forwarded-to", "delivered-to", "x-original-to")
EXTRA_HEADERS = (
    "thread-index",
    "x-ses-configuration-set",
    "x-ses-message-tags",
    "x-ses-tenant",
    "auto-submitted",
    "list-id",
    "x-mailer",
    "content-language",
    "x-forwarded-for",
)
MIME_HEADERS = ("content-type", "content-transfer-encoding", "content-disposition", "content-id")
_WANTED = frozenset(
    (
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "received",
        "return-path",
        "x-ses-spam-verdict",
        "x-ses-virus-verdict",
        "received-spf",
        "authentication-results",
    )
    + _ADDRESS_HEADERS
    + FORWARD_HEADERS
    + EXTRA_HEADERS
    + MIME_HEADERS
)
# A header block must name at least one of these (or an X- header) to count as mail.
_MAIL_HEADERS = _WANTED | {
    "mime-version",
    "dkim-signature",
    "arc-seal",
    "resent-from",
    "resent-to",
    "resent-date",
    "precedence",
    "list-unsubscribe",
}


@dataclass(slots=True)
class Head:
    """The top-level header block: wanted headers by lower-case name, values unfolded, undecoded."""

    fields: dict[str, list[str]]
    body_start: int | None
    """Offset of the body in the bytes given; None when the block ran past them (stream only)."""
    warnings: list[str]


_HEADER_LINES = re.compile(rb"(?:[!-9;-~]+[ \t]*:[^\n]*\n(?:[ \t]+[^ \t\r\n][^\n]*\n)*)*")
"""Header fields with their continuation lines: matched in C, so a huge header costs nothing."""
LAST_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:[^\n]*")
_SEPARATOR = re.compile(rb"[ \t]*\r?\n")
SEPARATOR_AHEAD = re.compile(rb"\n[ \t]*\r?\n")
_FIELD = re.compile(r"^([!-9;-~]+)[ \t]*:[ \t]*(.*(?:\n[ \t].*)*)", re.MULTILINE)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
_JUNK_LINES_TOLERATED = 4


def read_head(raw: bytes, complete: bool = True) -> Head:
    """Find and split the top-level header block, or raise MimeParseError when there is none.

    `raw` is the whole message, or (`complete=False`) the first bytes of a streamed one.
    """
    if not raw:
        raise MimeParseError("empty object", "empty_object")
    if raw.isspace():
        raise MimeParseError("empty object (only whitespace)")
    warnings: list[str] = []
    first_line = raw.find(b"\n") + 1 if raw.startswith(b"From ") else 0  # mbox separator line
    start, found = first_line, False
    for _ in range(_JUNK_LINES_TOLERATED + 1):
        end = _HEADER_LINES.match(raw, start, start + HEADER_BLOCK_CAP).end()
        if end > start or LAST_HEADER_LINE.match(raw, start):
            found = True
            break
        start = raw.find(b"\n", start) + 1
        if not start:
            break
    if not found:
        raise _not_mail(raw, "no header block (no 'Name: value' line at the start)")
    if start > first_line:
        warnings.append("header_garbage")

    body_start: int | None = end
    if end < len(raw) and (sep := _SEPARATOR.match(raw, end)):
        body_start = sep.end()
    elif end < len(raw) and (LAST_HEADER_LINE.match(raw, end) or raw[end : end + 1] in (b" ", b"\t")):
        if raw.find(b"\n", end) == -1 and complete and end - start < HEADER_BLOCK_CAP:
            end = body_start = len(raw)  # the last header line has no line break
        else:  # the block is longer than the cap: keep what fits, part of a line included
            warnings.append("header_truncated")
            ahead = SEPARATOR_AHEAD.search(raw, end)
            body_start = ahead.end() if ahead else len(raw) if complete else None
            end = min(len(raw), start + HEADER_BLOCK_CAP)
    elif end < len(raw):
        warnings.append("header_separator_missing")

    text = decode_header_bytes(raw[start:end], warnings)
    fields = header_fields(text, warnings, limit=HEADER_FIELD_LIMIT)
    if not fields and not any(
        (name := m.group(1).lower()) in _MAIL_HEADERS or name.startswith("x-")
        for m in itertools.islice(_FIELD.finditer(text), HEADER_FIELD_LIMIT)
    ):
        raise _not_mail(raw, "no mail headers (From, To, Subject, Date, Received, ...) in its header block")
    return Head(fields, body_start, warnings)


def _not_mail(raw: bytes, reason: str) -> MimeParseError:
    """The error for input without a usable header block, naming binary data when that is why."""
    sample = raw[:4096]
    control = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if control * 20 > len(sample):
        reason = f"binary data ({control} control bytes in the first {len(sample)})"
    return MimeParseError(f"not a mail message: {reason}")


def decode_header_bytes(block: bytes, warnings: list[str]) -> str:
    """Header bytes to text: UTF-8 (RFC 6532), or per line UTF-8 then Windows-1252 for raw 8-bit
    headers in a legacy charset, which are flagged 'header_8bit'."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        warnings.append("header_8bit")
        return "\n".join(decode_8bit(line) for line in block.split(b"\n"))


def header_fields(
    text: str, warnings: list[str], wanted: frozenset[str] = _WANTED, limit: int | None = None
) -> dict[str, list[str]]:
    """Unfolded values of the wanted headers by lower-case name, in order of appearance; with `limit`,
    only the first `limit` fields are read (``limit_header_fields`` when there are more)."""
    fields: dict[str, list[str]] = {}
    for count, match in enumerate(_FIELD.finditer(text)):
        if limit is not None and count >= limit:
            warnings.append("limit_header_fields")
            break
        name, value = match.groups()
        key = name.lower()
        if key in wanted:
            if "\n" in value:
                value = value.replace("\r\n", "").replace("\n", "")
            value = value.strip()
            if len(value) > HEADER_VALUE_CAP:
                value = _truncate_value(key, value)
                warnings.append("header_truncated")
            if key in fields:
                fields[key].append(value)
            else:
                fields[key] = [value]
    return fields


def _truncate_value(key: str, value: str) -> str:
    """Cut an oversized header at a token boundary; References keeps its root and its newest ids."""
    if key == "references":
        head = value[:_REFERENCES_HEAD]
        tail = value[-(HEADER_VALUE_CAP - _REFERENCES_HEAD) :]
        return head[: head.rfind(">") + 1] + " " + tail[tail.find("<") :]
    cut = value[:HEADER_VALUE_CAP]
    if key in _ADDRESS_HEADERS:
        boundary = cut.rfind(",")
    elif key in FORWARD_HEADERS:
        boundary = max(cut.rfind(","), cut.rfind(" "))
    else:
        return cut
    return cut[:boundary] if boundary > 0 else cut


def first_value(fields: dict[str, list[str]], name: str) -> str | None:
    """The first value of a header in `fields`, or None."""
    values = fields.get(name)
    return values[0] if values else None


_QUOTED_PAIR = re.compile(r"\\(.)")


def unquote(quoted: str) -> str:
    """The content of a quoted string (its opening quote included): quoted pairs undone, a missing
    closing quote tolerated."""
    content = quoted[1:-1] if quoted.endswith('"') and len(quoted) > 1 else quoted[1:]
    return _QUOTED_PAIR.sub(r"\1", content) if "\\" in content else content


def mime_source(head: Head, raw: bytes, body_end: int | None = None) -> bytes:
    """The top-level Content-* headers and the body (its first `body_end` bytes when given): all a MIME
    parser needs to see."""
    lines = [f"{name}: {values[0]}\r\n" for name in MIME_HEADERS if (values := head.fields.get(name))]
    prefix = "".join(lines).encode("utf-8", "surrogateescape")
    start = head.body_start or 0
    return prefix + b"\r\n" + raw[start : None if body_end is None else start + body_end]
