"""Deterministic hostile mail, one builder per family, for the MIME parser's fuzz tests and bench.

Every builder takes a size `n` in bytes and returns a message of about that size (never less than a
few hundred bytes) whose body or headers repeat one hostile shape: deep nesting, huge part counts,
header floods, unclosed encoded words, codecs that are not text, nested HTML, quoted-printable
siblings, misplaced or missing boundaries, long runs of `--` lines, over-long lines. `ordinary(n)`
builds a plain message of the same size (text, HTML and a base64 attachment) to compare against.
`FAMILIES` maps each family's name to its builder; `MINIMUM_SIZE` gives the smallest useful size of
the families that need one (`stream_lines` must exceed the 8 MB streaming threshold).

Nothing here is random: the same `n` always gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import quopri
from collections.abc import Callable

CRLF = b"\r\n"
_DATE = "Tue, 3 Mar 2026 10:00:00 -0300"


def _head(content_type: str, *extra: str) -> bytes:
    """A top-level header block with the usual fields, `extra` lines, and `content_type`."""
    lines = [
        "From: Ana <ana@example.com>",
        "To: soporte@tenant.example",
        "Subject: prueba",
        f"Date: {_DATE}",
        "Message-ID: <hostile@example.com>",
        "MIME-Version: 1.0",
        *extra,
        f"Content-Type: {content_type}",
    ]
    return "\r\n".join(lines).encode("utf-8") + CRLF + CRLF


def _fill(unit: bytes, size: int) -> bytes:
    """`unit` repeated to about `size` bytes (at least once)."""
    return unit * max(1, size // len(unit))


def _numbered(size: int, piece: Callable[[int], bytes]) -> list[bytes]:
    """`piece(0)`, `piece(1)`, … until together they reach `size` bytes."""
    pieces: list[bytes] = []
    total = 0
    while total < size:
        pieces.append(piece(len(pieces)))
        total += len(pieces[-1])
    return pieces


def _blob(size: int) -> bytes:
    """`size` pseudo-random bytes (a sha256 chain), the same for the same size."""
    out = bytearray()
    digest = b"seslake"
    while len(out) < size:
        digest = hashlib.sha256(digest).digest()
        out += digest * 64
    return bytes(out[:size])


# --------------------------------------------------------------------------------------------
# Structure


def nesting(n: int) -> bytes:
    """Multiparts nested as deep as `n` bytes allow (about 60 bytes a level), all closed at the end."""
    levels = max(2, n // 62)
    opening = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1) for i in range(levels)
    )
    inner = b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep text\r\n--b%d--\r\n" % (levels, levels)
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(levels)))
    return _head('multipart/mixed; boundary="b0"') + opening + inner + closing


def sibling_parts(n: int) -> bytes:
    """A flat multipart/mixed holding many multipart/alternative siblings (a text and an HTML leaf each)."""
    child = (
        b'--top\r\nContent-Type: multipart/alternative; boundary="alt%d"\r\n\r\n'
        b"--alt%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhola %d\r\n"
        b"--alt%d\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hola %d</p>\r\n--alt%d--\r\n"
    )
    children = _numbered(n, lambda i: child % (i, i, i, i, i, i))
    return b"".join([_head('multipart/mixed; boundary="top"'), *children, b"--top--\r\n"])


def part_count(n: int) -> bytes:
    """As many tiny parts as fit: `--b`, a blank line, one byte (10 bytes a part)."""
    return _head('multipart/mixed; boundary="b"') + _fill(b"--b\r\n\r\nx\r\n", n) + b"--b--\r\n"


def boundaries_closing_at_end(n: int) -> bytes:
    """Sibling multiparts that never close inside their parent: every close delimiter sits after the
    parent's own, at the very end of the message."""
    out = [_head('multipart/mixed; boundary="outer"')]
    closes = []
    size, i = 0, 0
    while size < n:
        child = b'--outer\r\nContent-Type: multipart/mixed; boundary="c%d"\r\n\r\n--c%d\r\n\r\ntext %d\r\n' % (i, i, i)
        out.append(child)
        closes.append(b"--c%d--\r\n" % i)
        size += len(child) + len(closes[-1])
        i += 1
    return b"".join([*out, b"--outer--\r\n", *closes])


def boundaries_missing(n: int) -> bytes:
    """An unterminated multipart whose children declare boundaries that never appear."""
    child = (
        b'--top\r\nContent-Type: multipart/alternative; boundary="never%d"\r\n\r\n'
        b"text that should have been inside part %d\r\n--nearly%d\r\n"
    )
    return b"".join([_head('multipart/mixed; boundary="top"'), *_numbered(n, lambda i: child % (i, i, i))])


def stream_lines(n: int) -> bytes:
    """Above the 8 MB streaming threshold: 90 nested multiparts, then lines that start like delimiters
    (`--x`, `--b7x`, `--b89--x`) filling an innermost text part, closed properly."""
    depth = 90
    opening = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1) for i in range(depth)
    )
    filler = b"".join(b"--x\r\n--b%dx\r\n--b%d--x\r\n" % (i % depth, i % depth) for i in range(depth))
    body = _fill(filler, max(n, 8_600_000))
    inner = b"--b%d\r\nContent-Type: text/plain\r\n\r\n" % depth + body + b"--b%d--\r\n" % depth
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return _head('multipart/mixed; boundary="b0"') + opening + inner + closing


def long_lines(n: int) -> bytes:
    """Over-long lines everywhere: a Subject, a text line, a quoted-printable line, a one-line base64
    attachment, and a line that starts with the boundary and goes on."""
    quarter = max(64, n // 5)
    subject = "Subject: " + "largo " * (quarter // 6)
    parts = [
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + b"palabra " * (quarter // 8) + CRLF,
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        + b"<p>=C3=B1and=C3=BA   " * (quarter // 22)
        + CRLF,
        b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(_blob(quarter * 3 // 4))
        + CRLF,
        b"--b\r\nContent-Type: text/plain\r\n\r\n--b" + b" " * quarter + b"x\r\nend\r\n",
    ]
    return _head('multipart/mixed; boundary="b"', subject) + b"".join(parts) + b"--b--\r\n"


# --------------------------------------------------------------------------------------------
# Headers


def header_count(n: int) -> bytes:
    """Half the bytes as short top-level header fields, half as parts with 50 header fields each."""
    lines = []
    size, i = 0, 0
    while size < n // 2:
        line = (
            f"Received: from h{i}.example by relay{i}.example with SMTP id {i}; {_DATE}"
            if i % 3 == 0
            else f"X-Filler-{i}: v"
            if i % 3 == 1
            else f"To: user{i}@example.com"
        )
        lines.append(line)
        size += len(line) + 2
        i += 1
    part = (
        b"--b\r\n"
        + b"".join(b"X-Part-Header-%d: value\r\n" % k for k in range(49))
        + b"Content-Type: text/plain\r\n\r\nx\r\n"
    )
    return _head('multipart/mixed; boundary="b"', *lines) + _fill(part, n // 2) + b"--b--\r\n"


def _params(size: int) -> str:
    return "".join(f'; p{i}="v;{i}"' for i in range(max(1, size // 12)))


def header_size(n: int) -> bytes:
    """Huge header values: a top-level Content-Type with thousands of parameters and a long Subject,
    then multipart children whose Content-Type parameter lists are 16 KB each."""
    top = min(n // 4, 3_000_000)
    subject = "Subject: " + "asunto " * (min(n // 8, 3_000_000) // 7)
    child_params = _params(16_000).encode()
    children = _numbered(
        n - top,
        lambda i: (
            b'--top\r\nContent-Type: multipart/alternative; boundary="a%d"' % i
            + child_params
            + b"\r\n\r\n--a%d\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--a%d--\r\n" % (i, i)
        ),
    )
    return b"".join([_head('multipart/mixed; boundary="top"' + _params(top), subject), *children, b"--top--\r\n"])


_HOSTILE_CHARSETS = (
    "unicode-escape",
    "raw-unicode-escape",
    "idna",
    "punycode",
    "undefined",
    "base64",
    "hex",
    "rot13",
    "zlib",
    "utf-7",
    "utf-16",
    "x-unknown",
)


def encoded_words(n: int) -> bytes:
    """RFC 2047 words: unclosed ones repeated in the Subject and in many To headers, words in codecs
    that are not text, and parts whose file names are unclosed words."""
    header_bytes = min(n // 2, 3_000_000)
    subject = "Subject: " + "=?utf-8?q?abc " * (min(header_bytes // 4, 60_000) // 14)
    hostile = " ".join(f"=?{c}?Q?=5Cud83d=5Cx00?=" for c in _HOSTILE_CHARSETS)
    to_value = "To: " + "=?utf-8?q?sin_cerrar " * (min(60_000, header_bytes // 4) // 21) + "<ana@example.com>"
    to_lines = [to_value] * max(1, (header_bytes - len(subject)) // len(to_value))
    head = _head('multipart/mixed; boundary="b"', subject, f"Cc: {hostile} <cc@example.com>", *to_lines)
    part = (
        b'--b\r\nContent-Type: application/pdf; name="' + b"=?utf-8?q?abc " * 200 + b'"\r\n'
        b'Content-Disposition: attachment; filename="=?unicode-escape?Q?=5Cud83d?=.pdf"\r\n\r\nx\r\n'
    )
    return head + _fill(part, max(0, n - len(head))) + b"--b--\r\n"


def address_spaces(n: int) -> bytes:
    """Address headers of long space runs and junk: spaces before an unclosed angle, unclosed quotes
    and comments, lone `@` and `<` runs, bare words."""
    header_bytes = min(n, 3_500_000)
    run = max(100, min(60_000, header_bytes // 10))
    junk = [
        "To: " + " " * run + "x",
        "Cc: Ana" + " " * run + "<ana@example.com",
        'Reply-To: "' + "a " * (run // 2),
        "Bcc: (" + "comentario " * (run // 11),
        "To: " + "<" * run,
        "Cc: " + "@" * run,
        "To: " + "a" * run,
        "X-Forwarded-To: " + "b" * run,
        "Delivered-To: " + "c@" * (run // 2),
    ]
    lines = [junk[i % len(junk)] for i in range(max(1, header_bytes // run))]
    head = _head("text/plain; charset=utf-8", *lines)
    return head + _fill(b"cuerpo\r\n", max(8, n - len(head)))


def charsets(n: int) -> bytes:
    """Parts and words in codecs that are not text (unicode-escape, idna, base64, ...) and in broken
    UTF-7 and UTF-16, each text decoding to lone surrogates or invalid sequences if taken at its word."""
    hostile_text = b"\\ud83d \\udc00 \\x00 +2D3-+AAA- xn--abc-\xff\xfe =5Cud83d\r\n"
    subject = "Subject: =?unicode-escape?Q?=5Cud83d?= =?raw-unicode-escape?Q?=5Cud83d?= =?utf-7?Q?+2D3-?="
    cycle = [
        b"--b\r\nContent-Type: text/%s; charset=%s\r\n\r\n" % (kind, charset.encode()) + hostile_text * 40
        for charset in _HOSTILE_CHARSETS
        for kind in (b"plain", b"html")
    ]
    unit = b"".join(cycle)
    return _head('multipart/mixed; boundary="b"', subject) + _fill(unit, n) + b"--b--\r\n"


# --------------------------------------------------------------------------------------------
# Bodies


def html_nesting(n: int) -> bytes:
    """An HTML-only body of nested lists, blockquotes and unclosed tags."""
    unit = b"<ul><li>item<blockquote><div><a"
    return _head("text/html; charset=utf-8") + _fill(unit, n) + b" end\r\n"


def qp_siblings(n: int) -> bytes:
    """Many sibling multiparts each holding a quoted-printable text leaf, then one 8-bit part (so the
    message is not all ASCII)."""
    child = (
        b'--top\r\nContent-Type: multipart/alternative; boundary="q%d"\r\n\r\n'
        b"--q%d\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Se=C3=B1or Mu=C3=B1oz %d\r\n--q%d--\r\n"
    )
    last = "--top\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSeñor\r\n--top--\r\n".encode()
    return b"".join([_head('multipart/mixed; boundary="top"'), *_numbered(n, lambda i: child % (i, i, i, i)), last])


def ordinary(n: int) -> bytes:
    """An ordinary message of about `n` bytes: a quoted-printable text part, its HTML twin and a base64
    attachment holding the rest."""
    paragraph = "Hola Ana,\r\ngracias por tu mensaje. El pedido 1234 sale mañana por la mañana.\r\n\r\n"
    text_size = max(256, min(n // 10, 200_000))
    text = (paragraph * (text_size // len(paragraph) + 1))[:text_size]
    html = "<html><body>" + "".join(f"<p>{line}</p>" for line in text.split("\r\n") if line) + "</body></html>"
    attachment = base64.encodebytes(_blob(max(0, (n - 3 * text_size) * 3 // 4))).replace(b"\n", CRLF)
    body = (
        b'--mix\r\nContent-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        + quopri.encodestring(text.encode("utf-8"))
        + b"\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        + quopri.encodestring(html.encode("utf-8"))
        + b"\r\n--alt--\r\n"
        b'--mix\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="factura.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--mix--\r\n"
    )
    return _head('multipart/mixed; boundary="mix"') + body


FAMILIES: dict[str, Callable[[int], bytes]] = {
    "nesting": nesting,
    "sibling_parts": sibling_parts,
    "part_count": part_count,
    "header_count": header_count,
    "header_size": header_size,
    "encoded_words": encoded_words,
    "address_spaces": address_spaces,
    "charsets": charsets,
    "html_nesting": html_nesting,
    "qp_siblings": qp_siblings,
    "boundaries_closing_at_end": boundaries_closing_at_end,
    "boundaries_missing": boundaries_missing,
    "stream_lines": stream_lines,
    "long_lines": long_lines,
}
"""Every hostile family by name."""

MINIMUM_SIZE = {"stream_lines": 8_600_000}
"""Families that build at least this many bytes whatever `n` is."""
