"""Byte-level MIME building blocks.

Messages are assembled from strings and bytes directly instead of `email.message` objects: it is
an order of magnitude faster, and it lets the generator write exactly the byte forms real mail
clients produce (their folding, their charset labels, their encoded-word styles) and the broken
forms some of them produce.
"""

from __future__ import annotations

import base64
import binascii
import time
import urllib.parse

CRLF = "\r\n"

CODECS = {
    "utf-8": "utf-8",
    "iso-8859-1": "latin-1",
    "windows-1252": "cp1252",
    "iso-8859-15": "iso8859-15",
    "us-ascii": "ascii",
}
"""Charset labels as written in mail (any case) -> Python codec."""


def codec(charset: str) -> str:
    return CODECS[charset.lower()]


def can_encode(text: str, charset: str) -> bool:
    try:
        text.encode(codec(charset))
    except UnicodeEncodeError:
        return False
    return True


def is_ascii(text: str) -> bool:
    return text.isascii()


# --------------------------------------------------------------------------------------------
# RFC 2047 encoded words
# --------------------------------------------------------------------------------------------

_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_TABLE = tuple(chr(b) if b in _Q_SAFE else ("_" if b == 32 else f"={b:02X}") for b in range(256))


def q_encode(data: bytes) -> str:
    """The 'Q' encoding of RFC 2047 restricted to the characters allowed in a phrase."""
    return "".join([_Q_TABLE[b] for b in data])


def encoded_words(text: str, charset: str = "UTF-8", mode: str = "B") -> list[str]:
    """Split `text` into encoded words of at most 75 characters, never inside a character.

    Whitespace between adjacent encoded words is dropped by decoders, so spaces of the text
    travel inside the words.
    """
    py = codec(charset)
    is_b = mode.upper() == "B"
    prefix = f"=?{charset}?{mode}?"
    budget = 75 - len(prefix) - 2
    if is_b:
        budget = (budget // 4) * 3
    words: list[str] = []
    chunk: list[bytes] = []
    used = 0
    for ch in text:
        raw = ch.encode(py)
        n = len(raw) if is_b else len(q_encode(raw))
        if chunk and used + n > budget:
            words.append(_word(prefix, b"".join(chunk), is_b))
            chunk, used = [], 0
        chunk.append(raw)
        used += n
    if chunk:
        words.append(_word(prefix, b"".join(chunk), is_b))
    return words


def _word(prefix: str, raw: bytes, is_b: bool) -> str:
    body = base64.b64encode(raw).decode("ascii") if is_b else q_encode(raw)
    return f"{prefix}{body}?="


def encode_unstructured(text: str, charset: str, mode: str, style: str = "whole") -> str:
    """An unstructured header value (Subject) as a given client writes it, folded with CRLF.

    style: 'whole' encodes the full value; 'prefix' keeps a leading ASCII reply prefix literal;
    'words' encodes only the runs of words that need it (Apple Mail, Thunderbird).
    """
    if is_ascii(text):
        return fold_text(text)
    if style == "prefix":
        head, sep, rest = text.partition(" ")
        if sep and head.isascii() and head.endswith(":") and rest:
            return head + " " + (CRLF + " ").join(encoded_words(rest, charset, mode))
    if style == "words":
        out: list[str] = []
        run: list[str] = []
        for token in text.split(" "):
            if token.isascii():
                if run:
                    out.extend(_join_run(run, charset, mode))
                    run = []
                out.append(token)
            else:
                run.append(token)
        if run:
            out.extend(_join_run(run, charset, mode))
        return _fold_tokens(out)
    return (CRLF + " ").join(encoded_words(text, charset, mode))


def _join_run(run: list[str], charset: str, mode: str) -> list[str]:
    words = encoded_words(" ".join(run), charset, mode)
    # Adjacent encoded words must stay together; mark them so folding keeps them as one token.
    return [("\x00".join(words))]


def _fold_tokens(tokens: list[str], width: int = 70) -> str:
    lines: list[str] = []
    cur = ""
    for token in tokens:
        parts = token.split("\x00")
        for i, part in enumerate(parts):
            if not cur:
                cur = part
            elif len(cur) + 1 + len(part) > width and (i > 0 or len(cur) > 20):
                lines.append(cur)
                cur = part
            else:
                cur += " " + part
    lines.append(cur)
    return (CRLF + " ").join(lines)


def fold_text(text: str, width: int = 76) -> str:
    """Fold an ASCII value at spaces; unfolding restores the original spaces exactly."""
    if len(text) <= width:
        return text
    out: list[str] = []
    cur = ""
    for word in text.split(" "):
        if not cur:
            cur = word
        elif len(cur) + 1 + len(word) > width:
            out.append(cur)
            cur = word
        else:
            cur += " " + word
    out.append(cur)
    return (CRLF + " ").join(out)


_SPECIALS = set('()<>[]:;@\\,."')


def format_address(name: str, addr: str, charset: str = "UTF-8", mode: str = "Q", quote: bool = False) -> str:
    """`Display Name <addr>` with the name quoted or encoded the way clients do."""
    if not name:
        return addr
    if not is_ascii(name):
        return " ".join(encoded_words(name, charset, mode)) + f" <{addr}>"
    if quote or any(c in _SPECIALS for c in name):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{addr}>'
    return f"{name} <{addr}>"


def address_list(items: list[str], width: int = 76) -> str:
    """Join formatted addresses, folding after commas."""
    lines: list[str] = []
    cur = ""
    for item in items:
        if not cur:
            cur = item
        elif len(cur) + 2 + len(item) > width:
            lines.append(cur + ",")
            cur = item
        else:
            cur += ", " + item
    lines.append(cur)
    return (CRLF + " ").join(lines)


# --------------------------------------------------------------------------------------------
# Parameters (RFC 2231 and the RFC 2047-in-quotes habit)
# --------------------------------------------------------------------------------------------

_ATTR_SAFE = "!#$&+-.^_`|~"


def param(key: str, value: str, style: str = "plain", charset: str = "utf-8") -> str:
    """A `; key=value` parameter. style: plain (quoted), rfc2231, rfc2231_split, rfc2047."""
    if style == "plain" or value.isascii() and style != "rfc2231_split":
        return f'{key}="{value}"'
    if style == "rfc2047":
        return f'{key}="' + " ".join(encoded_words(value, charset.upper(), "B")) + '"'
    encoded = urllib.parse.quote(value.encode(codec(charset)), safe=_ATTR_SAFE)
    if style == "rfc2231":
        return f"{key}*={charset}''{encoded}"
    # Continuations: key*0*=charset''...; key*1*=... with each piece short, never splitting a %XX.
    pieces: list[str] = []
    cur = ""
    i = 0
    while i < len(encoded):
        step = 3 if encoded[i] == "%" else 1
        if len(cur) + step > 40:
            pieces.append(cur)
            cur = ""
        cur += encoded[i : i + step]
        i += step
    pieces.append(cur)
    parts = [f"{key}*0*={charset}''{pieces[0]}"]
    parts += [f"{key}*{n}*={piece}" for n, piece in enumerate(pieces[1:], start=1)]
    return (";" + CRLF + " ").join(parts)


# --------------------------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------------------------


def to_crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def qp_body(text: str, charset: str) -> bytes:
    data = text.encode(codec(charset))
    return binascii.b2a_qp(data, quotetabs=False, istext=True, header=False).replace(b"\n", b"\r\n")


def b64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def encode_body(text: str, charset: str, cte: str) -> bytes:
    """Text in the given charset and Content-Transfer-Encoding, CRLF line ends, final CRLF."""
    if not text.endswith("\n"):
        text += "\n"
    if cte == "quoted-printable":
        return qp_body(text, charset)
    if cte == "base64":
        return b64_lines(to_crlf(text).encode(codec(charset)))
    return to_crlf(text).encode(codec(charset))


def leaf(headers: list[str], body: bytes) -> bytes:
    return (CRLF.join(headers) + CRLF + CRLF).encode("ascii") + body


def multipart(boundary: str, parts: list[bytes], preamble: str = "", closed: bool = True) -> bytes:
    """Body of a multipart entity: each part is already `headers CRLF CRLF body`."""
    delim = f"--{boundary}".encode("ascii")
    out = [preamble.encode("ascii") + b"\r\n" if preamble else b""]
    for part in parts:
        out.append(delim + b"\r\n" + part)
        if not part.endswith(b"\r\n"):
            out.append(b"\r\n")
    if closed:
        out.append(delim + b"--\r\n")
    return b"".join(out)


def html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# --------------------------------------------------------------------------------------------
# Dates and time zones (no zoneinfo: byte-identical output must not depend on the tz database)
# --------------------------------------------------------------------------------------------

_WD = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DST_CACHE: dict[tuple[str, int], tuple[int, int]] = {}


def _nth_sunday(year: int, month: int, n: int, hour_utc: int) -> int:
    """Epoch of the n-th Sunday (n=-1: last) of a month at hour_utc."""
    import calendar

    days = calendar.monthrange(year, month)[1]
    sundays = [d for d in range(1, days + 1) if calendar.weekday(year, month, d) == 6]
    day = sundays[n] if n >= 0 else sundays[-1]
    return calendar.timegm((year, month, day, hour_utc, 0, 0))


def utc_offset(zone: str, ts: int) -> int:
    """UTC offset in minutes of a zone at an instant: the handful of zones the archive uses."""
    if zone in ("AR", "BR", "UY"):
        return -180
    if zone == "UTC":
        return 0
    if zone == "MX":
        return -360
    year = time.gmtime(ts).tm_year
    key = (zone, year)
    if key not in _DST_CACHE:
        if zone == "ES":
            _DST_CACHE[key] = (_nth_sunday(year, 3, -1, 1), _nth_sunday(year, 10, -1, 1))
        else:  # US Pacific, Google's internal hops
            _DST_CACHE[key] = (_nth_sunday(year, 3, 1, 10), _nth_sunday(year, 11, 0, 9))
    start, end = _DST_CACHE[key]
    dst = start <= ts < end
    if zone == "ES":
        return 120 if dst else 60
    return -420 if dst else -480


def rfc2822(ts: int, offset: int = 0, pad_day: bool = False, comment: str = "") -> str:
    t = time.gmtime(ts + offset * 60)
    sign = "+" if offset >= 0 else "-"
    o = abs(offset)
    day = f"{t.tm_mday:02d}" if pad_day else str(t.tm_mday)
    out = (
        f"{_WD[t.tm_wday]}, {day} {_MON[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{o // 60:02d}{o % 60:02d}"
    )
    return f"{out} ({comment})" if comment else out


def pacific(ts: int) -> str:
    off = utc_offset("US", ts)
    return rfc2822(ts, off, pad_day=True, comment="PDT" if off == -420 else "PST")


def iso_ms(ms: int) -> str:
    t = time.gmtime(ms // 1000)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{ms % 1000:03d}Z"
    )


def local_parts(ts: int, offset: int) -> time.struct_time:
    return time.gmtime(ts + offset * 60)
