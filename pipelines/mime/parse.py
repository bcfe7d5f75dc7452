"""Raw MIME bytes (as SES stored them, or as the reply service archived them) -> `ParsedMessage`.

Three paths share one header layer and one body collector, so they can only differ in how the
MIME tree is split and transfer-decoded:

* ``fast``: fast-mail-parser's tree API (Rust) splits and decodes the body parts.
* ``fallback``: the stdlib ``email`` package (``policy=compat32``) splits the tree, our own lenient
  decoders decode it. Used whenever fast-mail-parser raises (bad base64) or would have to guess: a
  multipart without usable or closing boundaries, a part whose headers run into its body, an empty
  part, raw 8-bit bytes inside quoted-printable (which it drops). Repairs are thus always made, and
  reported, one way.
* ``stream``: `pipelines.mime.stream`, for files too large to hold decoded in memory.

The top-level header block is always split and decoded here, never by a MIME library: it is capped
before anything parses it (the stdlib's default policy is super-linear on huge headers), RFC 2047
words are decoded the way other decoders get wrong (a character split across two encoded words,
unknown charsets), and SES's prepended block is read. The MIME parsers are only handed the top
level's Content-* headers and the body.

`SesReceipt` case: ``spam_verdict``/``virus_verdict`` upper case as SES writes them (``PASS``,
``FAIL``, ``GRAY``, ``PROCESSING_FAILED``); ``spf_verdict``, ``dkim_verdict`` and ``dmarc_verdict``
lower case as RFC 8601 writes them (``pass``, ``fail``, ``softfail``, ``none``, ...).

Warnings, sorted, each once: ``address_unparseable``, ``bad_base64``, ``body_truncated``,
``charset_unknown``, ``date_invalid``, ``date_missing``, ``header_garbage`` (junk lines before the
headers), ``header_separator_missing``, ``header_truncated``, ``html_unconvertible``,
``mime_too_deep``, ``multipart_boundary_missing``, ``multipart_unterminated``.
"""

from __future__ import annotations

import binascii
import codecs
import email.errors
import email.parser
import functools
import hashlib
import html as htmllib
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.policy import compat32
from email.utils import parsedate_tz
from pathlib import Path
from typing import NamedTuple

import fast_mail_parser
import html2text

from pipelines.mime.message import Address, AttachmentInfo, MimeParseError, ParsedMessage, SesReceipt

__all__ = [
    "STREAM_THRESHOLD",
    "extract_message_ids",
    "normalize_address",
    "parse_message",
    "parse_message_file",
]

STREAM_THRESHOLD = 8 * 1024 * 1024
"""Messages larger than this are parsed by streaming them (SES stores messages up to 40 MB)."""
HEADER_BLOCK_CAP = 4 * 1024 * 1024
"""Top-level header bytes read at most; the rest of an oversized block is skipped."""
HEADER_VALUE_CAP = 64 * 1024
"""Characters kept of one header value (about 2,500 addresses or 1,300 message ids)."""
TEXT_CAP = 1_000_000
"""Characters kept of the text body."""
HTML_CAP = 1_000_000
"""Characters of HTML converted to text when a message has no text part (html2text is slow)."""

_PLAIN, _HTML, _ATTACHMENT, _IGNORED = range(4)
_REFERENCES_HEAD = 2048
"""Characters kept from the start of an oversized References header (the thread root)."""

# Headers read from the top-level block; everything else is skipped unseen.
_ADDRESS_HEADERS = ("from", "sender", "reply-to", "to", "cc", "bcc")
_FORWARD_HEADERS = ("x-forwarded-to", "delivered-to", "x-original-to")
_EXTRA_HEADERS = (
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
_MIME_HEADERS = ("content-type", "content-transfer-encoding", "content-disposition", "content-id")
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
    + _FORWARD_HEADERS
    + _EXTRA_HEADERS
    + _MIME_HEADERS
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


# --------------------------------------------------------------------------------------------
# Header block


@dataclass(slots=True)
class _Head:
    """The top-level header block: wanted headers by lower-case name, values unfolded, undecoded."""

    fields: dict[str, list[str]]
    body_start: int | None
    """Offset of the body in the bytes given; None when the block ran past them (stream only)."""
    warnings: list[str]


_HEADER_LINES = re.compile(rb"(?:[!-9;-~]+[ \t]*:[^\n]*\n(?:[ \t]+[^ \t\r\n][^\n]*\n)*)*")
"""Header fields with their continuation lines: matched in C, so a huge header costs nothing."""
_LAST_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:[^\n]*")
_SEPARATOR = re.compile(rb"[ \t]*\r?\n")
_SEPARATOR_AHEAD = re.compile(rb"\n[ \t]*\r?\n")
_FIELD = re.compile(r"^([!-9;-~]+)[ \t]*:[ \t]*(.*(?:\n[ \t].*)*)", re.MULTILINE)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
_JUNK_LINES_TOLERATED = 4


def _read_head(raw: bytes, complete: bool = True) -> _Head:
    """Find and split the top-level header block, or raise MimeParseError when there is none.

    `raw` is the whole message, or (`complete=False`) the first bytes of a streamed one.
    """
    if not raw or raw.isspace():
        raise MimeParseError("empty object" if not raw else "empty object (only whitespace)")
    warnings: list[str] = []
    first_line = raw.find(b"\n") + 1 if raw.startswith(b"From ") else 0  # mbox separator line
    start, found = first_line, False
    for _ in range(_JUNK_LINES_TOLERATED + 1):
        end = _HEADER_LINES.match(raw, start, start + HEADER_BLOCK_CAP).end()
        if end > start or _LAST_HEADER_LINE.match(raw, start):
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
    elif end < len(raw) and (_LAST_HEADER_LINE.match(raw, end) or raw[end : end + 1] in (b" ", b"\t")):
        if raw.find(b"\n", end) == -1 and complete and end - start < HEADER_BLOCK_CAP:
            end = body_start = len(raw)  # the last header line has no line break
        else:  # the block is longer than the cap: keep what fits, part of a line included
            warnings.append("header_truncated")
            ahead = _SEPARATOR_AHEAD.search(raw, end)
            body_start = ahead.end() if ahead else len(raw) if complete else None
            end = min(len(raw), start + HEADER_BLOCK_CAP)
    elif end < len(raw):
        warnings.append("header_separator_missing")

    text = _decode_header_bytes(raw[start:end], warnings)
    fields = _header_fields(text, warnings)
    if not fields and not any(
        name.lower() in _MAIL_HEADERS or name.lower().startswith("x-") for name, _ in _FIELD.findall(text)
    ):
        raise _not_mail(raw, "no mail headers (From, To, Subject, Date, Received, ...) in its header block")
    return _Head(fields, body_start, warnings)


def _not_mail(raw: bytes, reason: str) -> MimeParseError:
    """The error for input without a usable header block, naming binary data when that is why."""
    sample = raw[:4096]
    control = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if control * 20 > len(sample):
        reason = f"binary data ({control} control bytes in the first {len(sample)})"
    return MimeParseError(f"not a mail message: {reason}")


def _decode_header_bytes(block: bytes, warnings: list[str]) -> str:
    """Header bytes to text: UTF-8 (RFC 6532), or per line UTF-8 then Windows-1252 for raw 8-bit
    headers in a legacy charset, which are flagged 'header_8bit'."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        warnings.append("header_8bit")
        return "\n".join(_decode_8bit(line) for line in block.split(b"\n"))


def _decode_8bit(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _header_fields(text: str, warnings: list[str], wanted: frozenset[str] = _WANTED) -> dict[str, list[str]]:
    """Unfolded values of the wanted headers by lower-case name, in order of appearance."""
    fields: dict[str, list[str]] = {}
    for name, value in _FIELD.findall(text):
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
    elif key in _FORWARD_HEADERS:
        boundary = max(cut.rfind(","), cut.rfind(" "))
    else:
        return cut
    return cut[:boundary] if boundary > 0 else cut


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


# --------------------------------------------------------------------------------------------
# Charsets and RFC 2047


_CHARSET_ALIASES = {
    # What mail clients mean by these labels (the WHATWG encoding standard's mapping).
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "unicode-1-1-utf-7": "utf-7",
}
_NOT_TEXT_CODECS = frozenset(
    ("base64", "hex", "quopri", "uu", "zlib", "bz2", "rot-13", "base64_codec", "hex_codec")
    + ("quopri_codec", "uu_codec", "zlib_codec", "bz2_codec", "rot_13")
)
_SNIFF = "sniff"
"""Pseudo codec: UTF-8 if the bytes are valid UTF-8, else Windows-1252 (no or us-ascii label)."""


@functools.lru_cache(maxsize=256)
def _codec(label: str) -> str | None:
    """Python codec for a MIME charset label, `_SNIFF`, or None when unknown."""
    name = label.strip().strip("\"'").lower()
    if not name or name in ("us-ascii", "ascii", "ansi_x3.4-1968", "646"):
        return _SNIFF
    try:
        info = codecs.lookup(_CHARSET_ALIASES.get(name, name))
    except LookupError:
        return None
    if info.name in _NOT_TEXT_CODECS:
        return None
    return _SNIFF if info.name == "ascii" else info.name


def _decode_bytes(data: bytes, charset: str | None, warnings: list[str]) -> str:
    """Decode with a declared charset; unknown ones give replacement characters and a warning."""
    codec = _codec(charset) if charset else _SNIFF
    if codec == _SNIFF:
        return _decode_8bit(data)
    if codec is None:
        warnings.append("charset_unknown")
        return data.decode("utf-8", "replace")
    return data.decode(codec, "replace")


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?(.*?)\?=")


def _decode_words(value: str, warnings: list[str]) -> str:
    """Decode RFC 2047 encoded words; adjacent words of one charset are joined before decoding,
    so a character split across two words survives."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos : m.start()]
        charset = m.group(1).split("*", 1)[0]
        if gap and not (pending_charset and gap.isspace()):
            if pending_charset:
                out.append(_decode_bytes(bytes(pending), pending_charset, warnings))
                pending.clear()
            out.append(gap)
            pending_charset = ""
        elif pending_charset and charset.lower() != pending_charset.lower():
            out.append(_decode_bytes(bytes(pending), pending_charset, warnings))
            pending.clear()
        pending_charset = charset
        text = m.group(3)
        if m.group(2) in "bB":
            pending += _b64decode(text.encode("ascii", "ignore"))[0]
        else:
            pending += binascii.a2b_qp(text.encode("utf-8"), header=True)
        pos = m.end()
    if pending_charset:
        out.append(_decode_bytes(bytes(pending), pending_charset, warnings))
    out.append(value[pos:])
    return "".join(out)


def _collapse(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------
# Addresses and message ids


_SPEC = r"[^\s\"(),:;<>@\\]+@[^\s\"(),:;<>@\\]+"
_SIMPLE_ADDRESS = re.compile(rf"(?:([^\"(),:;<>@\\]*?)\s*<({_SPEC})>|({_SPEC}))")
"""One plain mailbox, `Name <a@b>` or `a@b`: most address headers, read without tokenizing."""
_ADDRESS_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|\((?:[^()\\]|\\.)*\)?|<[^>]*>?|[,;:]|[^",;:<(]+')
_QUOTED_PAIR = re.compile(r"\\(.)")


def _normalize_spec(spec: str) -> str | None:
    """`local@domain` with the domain lower-cased, or None when it is not an address."""
    spec = "".join(spec.split()).strip("<>")
    local, at, domain = spec.rpartition("@")
    if not at or not local or not domain:
        return None
    return f"{local}@{domain.lower()}"


def normalize_address(addr: str) -> str:
    """'Ana <Ana.Perez@Example.COM>' -> 'Ana.Perez@example.com'; '' when there is no address."""
    parsed = _parse_addresses(addr, [])
    if parsed:
        return parsed[0].address
    return _normalize_spec(addr) or ""


def _addresses(value: str, warnings: list[str]) -> list[Address]:
    """`_parse_addresses`, cached for ordinary values: senders and tenant addresses repeat a lot."""
    if len(value) > 256:
        return _parse_addresses(value, warnings)
    found, found_warnings = _cached_addresses(value)
    warnings.extend(found_warnings)
    return list(found)


@functools.lru_cache(maxsize=4096)
def _cached_addresses(value: str) -> tuple[tuple[Address, ...], tuple[str, ...]]:
    warnings: list[str] = []
    return tuple(_parse_addresses(value, warnings)), tuple(warnings)


def _parse_addresses(value: str, warnings: list[str]) -> list[Address]:
    """Mailboxes of an address header: groups flattened, junk entries skipped with a warning."""
    simple = _SIMPLE_ADDRESS.fullmatch(value)
    if simple:
        name, angle, bare = simple.groups()
        spec = _normalize_spec(angle or bare)
        if spec:
            return [Address(spec, _collapse(_decode_words(name or "", warnings)))]
    addresses: list[Address] = []
    entry: list[str] = []
    carried = ""  # an entry without address: likely the first half of an unquoted 'Last, First'
    for token in [*_ADDRESS_TOKEN.findall(value), ","]:
        if token == ":" and not any("@" in t or t.startswith("<") for t in entry):
            entry = []  # group name ("undisclosed-recipients:;", "team: a@x, b@y;")
        elif token in (",", ";"):
            found = _parse_entry(entry, carried, warnings)
            if isinstance(found, Address):
                addresses.append(found)
                carried = ""
            else:
                carried = found
            entry = []
        else:
            entry.append(token)
    if carried:
        warnings.append("address_unparseable")
    return addresses


def _parse_entry(tokens: list[str], carried: str, warnings: list[str]) -> Address | str:
    """One list entry -> Address, or the text to carry into the next entry when it has no address."""
    angle = next((i for i, t in enumerate(tokens) if t.startswith("<")), None)
    if angle is None:
        text = "".join(t for t in tokens if not t.startswith("(")).strip()
        spec = _normalize_spec(text) if "@" in text else None
        if spec is None:
            if "@" in text or carried and text:
                warnings.append("address_unparseable")
            return "" if "@" in text else text
        if carried:
            warnings.append("address_unparseable")  # what was carried named nobody
        name_tokens = [t[1:-1] for t in tokens if t.startswith("(") and t.endswith(")")][:1]
    else:
        spec = _normalize_spec(tokens[angle][1:].rpartition("<")[2].rstrip(">"))
        if spec is None:
            if carried or tokens[angle].strip("<> "):
                warnings.append("address_unparseable")
            return ""  # '<>' is the null address, not junk
        name_tokens = [carried, ", ", *tokens[:angle]] if carried else tokens[:angle]
    return Address(spec, _display_name(name_tokens, warnings))


def _display_name(tokens: list[str], warnings: list[str]) -> str:
    parts = []
    for token in tokens:
        if token.startswith('"'):
            parts.append(_QUOTED_PAIR.sub(r"\1", token[1:-1] if token.endswith('"') and len(token) > 1 else token[1:]))
        elif not token.startswith("("):
            parts.append(token)
    return _collapse(_decode_words("".join(parts), warnings))


_BRACKETED_ID = re.compile(r"<([^<>]*)>")


def extract_message_ids(value: str | None) -> list[str]:
    """Every `<id>` token, bare, in order (a lone unbracketed `x@y` counts as one id)."""
    if not value:
        return []
    ids = ["".join(found.split()) for found in _BRACKETED_ID.findall(value)]
    ids = [i for i in ids if i]
    if not ids and "@" in value and len(value.split()) == 1:
        return [value.strip()]
    return ids


def _message_id(value: str | None) -> str | None:
    if value is None:
        return None
    ids = extract_message_ids(value)
    if ids:
        return ids[0]
    bare = "".join(value.split()).strip("<>")
    return bare or None


def _dedup(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --------------------------------------------------------------------------------------------
# Dates


_MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
_SIMPLE_DATE = re.compile(
    r"\s*(?:[A-Za-z]+,?\s*)?(\d{1,2})\s+([A-Za-z]{3})[A-Za-z]*\.?\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s*(?:([+-])(\d{2})(\d{2}))?(?:\s*\(.*\))?\s*"
)
_MIN_YEAR, _MAX_YEAR = 1990, 2100


def _parse_date(value: str) -> datetime | None:
    """RFC 5322 date -> aware UTC datetime, or None when unparseable or outside 1990..2100."""
    m = _SIMPLE_DATE.fullmatch(value)
    try:
        if m and m.group(7) and m.group(2).lower() in _MONTHS:  # the common form, numeric zone
            day, mon, year, hour, minute, sec, sign, oh, om = m.groups()
            offset = (int(oh) * 60 + int(om)) * (-1 if sign == "-" else 1)
            local = datetime(int(year), _MONTHS[mon.lower()], int(day), int(hour), int(minute), int(sec or 0))
        else:
            parsed = parsedate_tz(value)
            if parsed is None:
                return None
            year, month, day, hour, minute, sec = parsed[:6]
            local = datetime(year, month, day, hour, minute, min(sec, 59))
            offset = (parsed[9] or 0) // 60
    except (ValueError, OverflowError, IndexError, TypeError):
        return None
    if not _MIN_YEAR <= local.year <= _MAX_YEAR:
        return None
    return (local - timedelta(minutes=offset)).replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# SES's prepended block


# Literal-prefixed patterns: the regex engine then scans for the prefix in C.
_BY_HOST = re.compile(r"by\s+([^\s;]+)")
_SMTP_ID = re.compile(r"with\s+\S+\s+id\s+([^\s;]+)")
_FOR = re.compile(r"for\s+([^;]*)")
_ADDR_SPEC = re.compile(r"[^\s<>,;\"]+@[^\s<>,;\"]+")
_AUTH_SPF = re.compile(r"spf=(\w+)")
_AUTH_DKIM = re.compile(r"dkim=(\w+)")
_AUTH_DMARC = re.compile(r"dmarc=(\w+)")
_SPF_RESULTS = frozenset(("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"))


def _ses_host(received: str) -> re.Match[str] | None:
    """The `by` clause of a Received header written by SES's inbound servers, else None."""
    for by in _BY_HOST.finditer(received):
        host = by.group(1).lower()
        if host.endswith(".amazonaws.com") and "inbound-smtp." in host or host.endswith("amazonses.com"):
            return by
    return None


def _ses_receipt(fields: dict[str, list[str]]) -> SesReceipt:
    """Read SES's prepended headers (the first Received by SES's inbound servers, verdicts, auth)."""
    ses = SesReceipt()
    return_path = _first(fields, "return-path")
    if return_path is not None:
        ses.envelope_sender = _normalize_spec(return_path.split(",")[0])
    for received in fields.get("received", ()):
        by = _ses_host(received) if "amazon" in received else None
        if by is None:
            continue
        head, _, date = received.rpartition(";")
        smtp_id = _SMTP_ID.search(head, by.end())
        if smtp_id:
            ses.smtp_id = smtp_id.group(1)
        rcpts = _FOR.search(head, smtp_id.end() if smtp_id else by.end())
        if rcpts:
            found = (_normalize_spec(a) for a in _ADDR_SPEC.findall(rcpts.group(1)))
            ses.envelope_recipients = _dedup([a for a in found if a])
        ses.received_at = _parse_date(date) if head else None
        break
    spam, virus = _first(fields, "x-ses-spam-verdict"), _first(fields, "x-ses-virus-verdict")
    ses.spam_verdict = spam.split()[0].upper() if spam else None
    ses.virus_verdict = virus.split()[0].upper() if virus else None
    spf = _first(fields, "received-spf")
    if ses.smtp_id and spf and spf.split()[0].lower() in _SPF_RESULTS:  # SES's own, not a later hop's
        ses.spf_verdict = spf.split()[0].lower()
    for results in fields.get("authentication-results", ()):
        if results.split(";", 1)[0].strip().lower() != "amazonses.com":
            continue
        if ses.spf_verdict is None and (spf_result := _AUTH_SPF.search(results)):
            ses.spf_verdict = spf_result.group(1).lower()
        dkim = [result.lower() for result in _AUTH_DKIM.findall(results)]
        if dkim:
            ses.dkim_verdict = "pass" if "pass" in dkim else dkim[0]
        if dmarc := _AUTH_DMARC.search(results):
            ses.dmarc_verdict = dmarc.group(1).lower()
        break
    return ses


# --------------------------------------------------------------------------------------------
# MIME parts


_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)')


def _params(value: str) -> tuple[str, dict[str, str]]:
    """`token; a=1; b*=utf-8''x%C3%B1` -> ('token', {...}) with RFC 2231 values decoded."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    if not rest:
        return main.strip().lower(), params
    extended: dict[str, list[tuple[int, bool, str]]] = {}
    for name, raw in _PARAM.findall(";" + rest):
        name = name.lower()
        raw = raw.strip()
        if raw.startswith('"'):
            raw = _QUOTED_PAIR.sub(r"\1", raw[1:-1] if raw.endswith('"') and len(raw) > 1 else raw[1:])
        if "*" in name:
            base, _, section = name.partition("*")
            encoded = section.endswith("*") or section == ""
            number = section.rstrip("*")
            extended.setdefault(base, []).append((int(number) if number.isdigit() else 0, encoded, raw))
        else:
            params.setdefault(name, raw)
    for base, sections in extended.items():
        params[base] = _rfc2231(sorted(sections))
    return main.strip().lower(), params


def _rfc2231(sections: list[tuple[int, bool, str]]) -> str:
    charset = ""
    data = bytearray()
    for index, (_, encoded, value) in enumerate(sections):
        if encoded:
            if index == 0 and value.count("'") >= 2:
                charset, _, value = value.split("'", 2)
            data += _percent_decode(value)
        else:
            data += value.encode("utf-8")
    return _decode_bytes(bytes(data), charset or None, [])


_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


def _percent_decode(value: str) -> bytes:
    return _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), value).encode("latin-1", "replace")


class _Part(NamedTuple):
    """What the Content-* headers of one MIME part say, the same whichever parser split it.
    (A named tuple: cheap to build, and safe to share from the cache.)"""

    content_type: str
    charset: str | None
    boundary: str | None
    filename: str | None
    disposition: str | None
    content_id: str | None
    encoding: str
    kind: int
    """_PLAIN or _HTML (a body candidate), _ATTACHMENT, or _IGNORED (other inline text)."""

    def as_text(self) -> _Part:
        """The part as text/plain: a multipart without usable boundaries is read as its text."""
        return _Part("text/plain", self.charset, None, None, None, None, self.encoding, _PLAIN)


def _part(headers: dict[str, str], default_type: str, warnings: list[str]) -> _Part:
    """Read a part's Content-* headers (`headers`: lower-case name -> first value, unfolded)."""
    part, part_warnings = _cached_part(
        headers.get("content-type"),
        headers.get("content-disposition"),
        headers.get("content-id"),
        headers.get("content-transfer-encoding"),
        default_type,
    )
    warnings.extend(part_warnings)
    return part


@functools.lru_cache(maxsize=1024)
def _cached_part(
    content_type: str | None,
    disposition_value: str | None,
    content_id: str | None,
    encoding: str | None,
    default_type: str,
) -> tuple[_Part, tuple[str, ...]]:
    """Most parts repeat the same few header values, so their reading is cached."""
    warnings: list[str] = []
    ctype, params = _params(content_type or "")
    if ctype.count("/") != 1 or " " in ctype:
        ctype = default_type
    disposition, dparams = _params(disposition_value) if disposition_value else (None, {})
    filename = dparams.get("filename") or params.get("name") or None
    if filename and "=?" in filename:
        filename = _decode_words(filename, warnings)
    content_id = "".join(content_id.split()).strip("<>") or None if content_id else None
    if disposition not in (None, "inline", "attachment"):
        disposition = "attachment" if disposition else None  # RFC 2183: unknown means attachment
    if disposition is None and content_id:
        disposition = "inline"
    if ctype in ("text/plain", "text/html") and not filename and disposition != "attachment":
        kind = _PLAIN if ctype == "text/plain" else _HTML
    elif filename or disposition == "attachment" or not ctype.startswith("text/"):
        kind = _ATTACHMENT
    else:
        kind = _IGNORED
    part = _Part(
        content_type=ctype,
        charset=params.get("charset"),
        boundary=params.get("boundary"),
        filename=filename,
        disposition=disposition,
        content_id=content_id,
        encoding=(encoding or "").strip().lower(),
        kind=kind,
    )
    return part, tuple(warnings)


# --------------------------------------------------------------------------------------------
# Transfer decoding (fallback and stream paths; fast-mail-parser decodes the fast path the same way)


_B64_WHITESPACE = b" \t\r\n\x0b\x0c"
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_B64 = bytes(b for b in range(256) if b not in _B64_ALPHABET)


def _b64decode(data: bytes) -> tuple[bytes, bool]:
    """Base64 -> (bytes, clean). Damaged input decodes what it can: stray characters dropped,
    padding repaired, a dangling last character ignored."""
    data = data.translate(None, _B64_WHITESPACE)
    letters = data.translate(None, _NOT_B64)
    if len(letters) == len(data):
        return _b64_tail(letters), len(letters) % 4 == 0
    pads = data.count(b"=")
    damaged = len(letters) + pads != len(data) or b"=" in data.rstrip(b"=")
    return _b64_tail(letters), _b64_clean(len(letters), pads, damaged)


def _b64_clean(letters: int, pads: int, damaged: bool) -> bool:
    """Clean base64: only the alphabet, then at most two '=' that complete the last group."""
    if damaged:
        return False
    return letters % 4 == 0 if pads == 0 else pads <= 2 and letters % 4 == 4 - pads


def _b64_tail(alphabet_only: bytes) -> bytes:
    """Decode base64 without padding: 2 or 3 trailing characters are padded, 1 is dropped."""
    extra = len(alphabet_only) % 4
    if extra == 1:
        alphabet_only = alphabet_only[:-1]
    elif extra:
        alphabet_only += b"=" * (4 - extra)
    return binascii.a2b_base64(alphabet_only)


_QP_TRAILING_SPACE = re.compile(rb"[ \t]+$", re.MULTILINE)


def _qp_decode(data: bytes) -> bytes:
    """Quoted-printable as fast-mail-parser decodes it: trailing spaces dropped, soft breaks
    joined, hard line breaks written as CRLF (the canonical form)."""
    lines = _QP_TRAILING_SPACE.sub(b"", data.replace(b"\r\n", b"\n")).split(b"\n")
    out = []
    for line in lines[:-1]:
        out.append(binascii.a2b_qp(line[:-1]) if line.endswith(b"=") else binascii.a2b_qp(line) + b"\r\n")
    last = lines[-1]
    out.append(binascii.a2b_qp(last[:-1] if last.endswith(b"=") else last))
    return b"".join(out)


def _transfer_decode(data: bytes, encoding: str) -> tuple[bytes, bool]:
    """Decode a part's body; the flag is False when its base64 was damaged."""
    if encoding == "base64":
        return _b64decode(data)
    if encoding == "quoted-printable":
        return _qp_decode(data), True
    return data, True


# --------------------------------------------------------------------------------------------
# Body collection (shared by all paths)


_Text = tuple[bytes, str | None, bool]
"""A body part kept for later: (transfer-decoded bytes, charset, bytes were cut)."""


@dataclass(slots=True)
class _Body:
    """Collects body parts and attachments in walk order, then yields the body fields."""

    warnings: list[str] = field(default_factory=list)
    plain: _Text | None = None
    html: _Text | None = None
    has_html: bool = False
    attachments: list[AttachmentInfo] = field(default_factory=list)

    def leaf(self, part: _Part, data: bytes) -> None:
        """A fully decoded leaf part: body text, attachment, or neither."""
        kind = part.kind
        if kind == _ATTACHMENT:
            self.attachment(part, len(data), hashlib.sha256(data).hexdigest())
        elif kind != _IGNORED:
            self.text(part, data)

    def text(self, part: _Part, data: bytes, cut: bool = False) -> None:
        if part.kind == _PLAIN:
            if self.plain is None:
                self.plain = (data, part.charset, cut)
        else:
            self.has_html = True
            if self.html is None:
                self.html = (data, part.charset, cut)

    def attachment(self, part: _Part, size: int, sha256: str) -> None:
        self.attachments.append(
            AttachmentInfo(
                filename=part.filename,
                content_type=part.content_type,
                size_bytes=size,
                sha256=sha256,
                disposition=part.disposition,
                content_id=part.content_id,
                is_forwarded_message=part.content_type in ("message/rfc822", "message/global"),
            )
        )

    def has_text(self) -> bool:
        """Whether a text/plain body with more than blanks was found: then HTML is not needed."""
        if self.plain is None:
            return False
        data, charset, _ = self.plain
        prefix = _decode_bytes(data[:4096], charset, [])
        return bool(prefix.rstrip("\ufffd").strip() or len(data) > 4096 and self._decode(self.plain)[0].strip())

    def body_text(self) -> tuple[str, bool]:
        """(text_body, body_from_html). A blank text part next to an HTML one counts as none."""
        text, cut = self._decode(self.plain) if self.plain else ("", False)
        from_html = False
        if self.html is not None and not text.strip():
            from_html = True
            html, cut = self._decode(self.html)
            cut = cut or len(html) > HTML_CAP
            text = _html_to_text(html[:HTML_CAP], self.warnings)
        if cut or len(text) > TEXT_CAP:
            self.warnings.append("body_truncated")
            text = text[:TEXT_CAP]
        return text, from_html

    def _decode(self, body: _Text) -> tuple[str, bool]:
        data, charset, cut = body
        text = _decode_bytes(data, charset, self.warnings)
        if "\r" in text:  # CRLF and lone CR to LF, in C (str.replace is several times slower)
            text = io.IncrementalNewlineDecoder(None, translate=True).decode(text, final=True)
        return text, cut


_WS_BEFORE_NEWLINE = re.compile(r"[ \t\xa0]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


class _HtmlToText(html2text.HTML2Text):
    """Plain text, not Markdown: no wrapping, images, link targets, emphasis or table drawing."""

    def __init__(self) -> None:
        super().__init__()
        self.body_width = 0
        self.ignore_images = True
        self.ignore_links = True  # the link text stays, the URL markup goes
        self.ignore_tables = True
        self.ignore_emphasis = True
        self.unicode_snob = True

    def handle_tag(self, tag: str, attrs: dict[str, str | None], start: bool) -> None:
        super().handle_tag(tag, attrs, start)
        if not start and tag in ("td", "th"):
            self.o(" ")  # keep table cells apart: 'Total 50 €', not 'Total50 €'


_TAG = re.compile(r"<[^>]*>")


def _html_to_text(html: str, warnings: list[str]) -> str:
    try:
        text = _HtmlToText().handle(html)
    except Exception:  # html2text has crashed on hostile markup; a crude reading beats none
        warnings.append("html_unconvertible")
        text = htmllib.unescape(_TAG.sub(" ", html))
    return _BLANK_RUNS.sub("\n\n", _WS_BEFORE_NEWLINE.sub("\n", text)).strip()


# --------------------------------------------------------------------------------------------
# Fast path: fast-mail-parser's tree


class _Unusable(Exception):
    """This path cannot parse the message as it is; the next path should."""


def _mime_source(head: _Head, raw: bytes) -> bytes:
    """The top-level Content-* headers and the body: all a MIME parser needs to see."""
    lines = [f"{name}: {values[0]}\r\n" for name in _MIME_HEADERS if (values := head.fields.get(name))]
    prefix = "".join(lines).encode("utf-8", "surrogateescape")
    return prefix + b"\r\n" + raw[head.body_start or 0 :]


def _fast_body(head: _Head, raw: bytes) -> _Body:
    source = _mime_source(head, raw)
    try:
        tree = fast_mail_parser.parse_email_tree(source)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # ParseError, and a Rust panic surfaces as a BaseException
        raise _Unusable(f"fast-mail-parser: {exc}") from exc
    body = _Body()
    delimiters: list[bytes] = []
    if _walk_fast(tree, body, "text/plain", source, delimiters) and _raw_8bit_in_qp(source, delimiters):
        # fast-mail-parser silently drops raw 8-bit bytes inside quoted-printable text (a raw
        # UTF-8 'ñ' from a sloppy sender would vanish); the fallback keeps them.
        raise _Unusable("raw 8-bit bytes in a quoted-printable part")
    return body


_QP_HEADER = re.compile(rb"^content-transfer-encoding:[ \t]*quoted-printable[ \t]*\r?$", re.I | re.M)


def _raw_8bit_in_qp(source: bytes, delimiters: list[bytes]) -> bool:
    """Whether a quoted-printable body (up to the next delimiter) holds bytes above 127."""
    if source.isascii():
        return False
    for header in _QP_HEADER.finditer(source):
        blank = _SEPARATOR_AHEAD.search(source, header.end())
        if blank is None:
            continue
        start = blank.end()
        ends = [i for delimiter in delimiters if (i := source.find(delimiter, start)) != -1]
        if not source[start : min(ends, default=len(source))].isascii():
            return True
    return False


def _fmp_headers(node: fast_mail_parser.PyMimePart) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, values in node.headers.items():
        if " " in name or "\r" in name:
            # A body line taken for a header: fast-mail-parser skipped to the next blank line,
            # losing text; the stdlib starts the body at that line instead.
            raise _Unusable("part without a blank line after its headers")
        if values:
            headers.setdefault(name.lower(), values[0])
    return headers


def _walk_fast(
    node: fast_mail_parser.PyMimePart,
    body: _Body,
    default_type: str,
    source: bytes,
    delimiters: list[bytes],
    nested: bool = False,
) -> bool:
    """Collect the parts under `node` and the multipart delimiters met; True when a leaf was
    quoted-printable."""
    part = _part(_fmp_headers(node), default_type, body.warnings)
    multipart = part.content_type.startswith("multipart/")
    if node.is_message or not (multipart or node.children):
        content = node.content or b""
        if nested and not content:
            # Also what fast-mail-parser returns for a part whose body it could not find.
            raise _Unusable("empty part")
        body.leaf(part, content)
        return part.encoding == "quoted-printable"
    if not (multipart and node.children and part.boundary):
        raise _Unusable(f"{part.content_type} part without usable boundaries")
    delimiter = f"\n--{part.boundary}".encode("utf-8", "surrogateescape")
    # The outermost close delimiter sits near the end, inner ones near the start.
    if (source.find(delimiter + b"--") if nested else source.rfind(delimiter + b"--")) == -1:
        raise _Unusable(f"{part.content_type} part is not terminated")
    delimiters.append(delimiter)
    child_default = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
    quoted_printable = False
    for child in node.children:
        quoted_printable |= _walk_fast(child, body, child_default, source, delimiters, nested=True)
    return quoted_printable


# --------------------------------------------------------------------------------------------
# Fallback path: the stdlib's compat32 parser for the structure, our decoders for the content


class _OpaqueMessage(Message):
    """A stdlib message that keeps message/* parts as undivided leaves: the forwarded message's
    original bytes can then be hashed, and its text never mixes into ours."""

    def get_content_type(self) -> str:
        ctype = super().get_content_type()
        return "application/octet-stream" if ctype.startswith("message/") else ctype

    def raw_payload(self) -> bytes:
        """A leaf's body bytes exactly as they were (`get_payload` re-decodes 8-bit text)."""
        payload = self._payload
        return payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""


def _fallback_body(head: _Head, raw: bytes) -> _Body:
    parser = email.parser.BytesParser(_class=_OpaqueMessage, policy=compat32)
    body = _Body()
    try:
        _walk_fallback(parser.parsebytes(_mime_source(head, raw)), body, "text/plain")
    except RecursionError:
        body.warnings.append("mime_too_deep")
    return body


def _std_headers(msg: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = name.lower()
        if key not in headers and key.startswith("content-"):
            text = _decode_8bit(value.encode("ascii", "surrogateescape"))
            headers[key] = text.replace("\r", "").replace("\n", "")
    return headers


def _walk_fallback(msg: _OpaqueMessage, body: _Body, default_type: str) -> None:
    part = _part(_std_headers(msg), default_type, body.warnings)
    if msg.is_multipart():
        if any(isinstance(d, email.errors.CloseBoundaryNotFoundDefect) for d in msg.defects):
            body.warnings.append("multipart_unterminated")
        child_default = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
        for child in msg.get_payload():
            _walk_fallback(child, body, child_default)
        return
    if part.content_type.startswith("multipart/"):
        body.warnings.append("multipart_boundary_missing")
        part = part.as_text()
    content, clean = _transfer_decode(msg.raw_payload(), part.encoding)
    if not clean:
        body.warnings.append("bad_base64")
    body.leaf(part, content)


# --------------------------------------------------------------------------------------------
# Assembly


def _assemble(head: _Head, body: _Body, size: int, parser: str) -> ParsedMessage:
    fields = head.fields
    warnings = head.warnings

    def decoded(name: str) -> str | None:
        values = fields.get(name)
        return _decode_words(values[0], warnings) if values else None

    def addresses(name: str) -> list[Address]:
        values = fields.get(name)
        if not values:
            return []
        if len(values) == 1:
            return _addresses(values[0], warnings)
        return [a for value in values for a in _addresses(value, warnings)]

    date_raw = decoded("date") or None
    date = None
    if date_raw is None:
        warnings.append("date_missing")
    else:
        date = _parse_date(date_raw)
        if date is None:
            warnings.append("date_invalid")
    in_reply_to = decoded("in-reply-to")
    references = decoded("references")
    forwarded = [
        spec
        for name in _FORWARD_HEADERS
        for value in fields.get(name, ())
        for token in _ADDR_SPEC.findall(value)
        if (spec := _normalize_spec(token))
    ]
    from_ = addresses("from")
    sender = addresses("sender")
    subject = decoded("subject")
    text_body, body_from_html = body.body_text()
    return ParsedMessage(
        message_id=_message_id(_first(fields, "message-id")),
        in_reply_to=in_reply_to,
        references=references,
        reference_ids=_dedup(extract_message_ids(references) + extract_message_ids(in_reply_to)),
        subject=" ".join(subject.split()) if subject else "",
        from_=from_[0] if from_ else None,
        sender=sender[0] if sender else None,
        reply_to=addresses("reply-to"),
        to=addresses("to"),
        cc=addresses("cc"),
        bcc=addresses("bcc"),
        date=date,
        date_raw=date_raw,
        ses=_ses_receipt(fields),
        forwarded_to=_dedup(forwarded),
        headers={name: _decode_words(fields[name][0], warnings) for name in _EXTRA_HEADERS if fields.get(name)},
        text_body=text_body,
        body_from_html=body_from_html,
        has_html=body.has_html,
        attachments=body.attachments,
        size_bytes=size,
        parser=parser,
        warnings=sorted(set(warnings + body.warnings)),
    )


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message held in memory: fast path first, the careful fallback when it cannot;
    above `STREAM_THRESHOLD` the streaming parser, so no decoded copy of a 40 MB mail is made.

    Raises MimeParseError only for input that is not mail at all (empty, binary, no header block).
    """
    if len(raw) > STREAM_THRESHOLD:
        from pipelines.mime.stream import parse_stream  # it builds on this module

        return parse_stream(io.BytesIO(raw), len(raw))
    head = _read_head(raw)
    try:
        body, parser = _fast_body(head, raw), "fast"
    except _Unusable:
        body, parser = _fallback_body(head, raw), "fallback"
    return _assemble(head, body, len(raw), parser)


def _parse_fast(raw: bytes) -> ParsedMessage:
    """The fast path alone (raises `_Unusable` where `parse_message` would fall back)."""
    head = _read_head(raw)
    return _assemble(head, _fast_body(head, raw), len(raw), "fast")


def _parse_fallback(raw: bytes) -> ParsedMessage:
    """The fallback path alone, for comparing the two on the same messages."""
    head = _read_head(raw)
    return _assemble(head, _fallback_body(head, raw), len(raw), "fallback")


def parse_message_file(path: Path) -> ParsedMessage:
    """Parse a stored message; files above `STREAM_THRESHOLD` are streamed from disk, never read whole."""
    if path.stat().st_size > STREAM_THRESHOLD:
        from pipelines.mime.stream import parse_message_stream

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
