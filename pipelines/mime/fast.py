"""The fast walker: fast-mail-parser's tree API (Rust) splits and transfer-decodes the body parts.

It refuses, with `Unusable`, every message it would have to guess about (bad base64, a multipart
without usable or closing boundaries, a part whose headers run into its body, an empty part, raw
8-bit bytes inside quoted-printable), so that the fallback walker reads those.
"""

from __future__ import annotations

import re

import fast_mail_parser

from pipelines.mime.assemble import assemble
from pipelines.mime.body import Body
from pipelines.mime.headers import SEPARATOR_AHEAD, Head, mime_source, read_head
from pipelines.mime.message import ParsedMessage
from pipelines.mime.parts import read_part


class Unusable(Exception):
    """This path cannot parse the message as it is; the next path should."""


def fast_body(head: Head, raw: bytes) -> Body:
    """The body parts as fast-mail-parser splits and decodes them; `Unusable` where it would guess."""
    source = mime_source(head, raw)
    try:
        tree = fast_mail_parser.parse_email_tree(source)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # ParseError, and a Rust panic surfaces as a BaseException
        raise Unusable(f"fast-mail-parser: {exc}") from exc
    body = Body()
    delimiters: list[bytes] = []
    if _walk_fast(tree, body, "text/plain", source, delimiters) and _raw_8bit_in_qp(source, delimiters):
        # fast-mail-parser silently drops raw 8-bit bytes inside quoted-printable text (a raw
        # UTF-8 'ñ' from a sloppy sender would vanish); the fallback keeps them.
        raise Unusable("raw 8-bit bytes in a quoted-printable part")
    return body


_QP_HEADER = re.compile(rb"^content-transfer-encoding:[ \t]*quoted-printable[ \t]*\r?$", re.I | re.M)


def _raw_8bit_in_qp(source: bytes, delimiters: list[bytes]) -> bool:
    """Whether a quoted-printable body (up to the next delimiter) holds bytes above 127."""
    if source.isascii():
        return False
    for header in _QP_HEADER.finditer(source):
        blank = SEPARATOR_AHEAD.search(source, header.end())
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
            raise Unusable("part without a blank line after its headers")
        if values:
            headers.setdefault(name.lower(), values[0])
    return headers


def _walk_fast(
    node: fast_mail_parser.PyMimePart,
    body: Body,
    default_type: str,
    source: bytes,
    delimiters: list[bytes],
    nested: bool = False,
) -> bool:
    """Collect the parts under `node` and the multipart delimiters met; True when a leaf was
    quoted-printable."""
    part = read_part(_fmp_headers(node), default_type, body.warnings)
    multipart = part.content_type.startswith("multipart/")
    if node.is_message or not (multipart or node.children):
        content = node.content or b""
        if nested and not content:
            # Also what fast-mail-parser returns for a part whose body it could not find.
            raise Unusable("empty part")
        body.leaf(part, content)
        return part.encoding == "quoted-printable"
    if not (multipart and node.children and part.boundary):
        raise Unusable(f"{part.content_type} part without usable boundaries")
    delimiter = f"\n--{part.boundary}".encode("utf-8", "surrogateescape")
    # The outermost close delimiter sits near the end, inner ones near the start.
    if (source.find(delimiter + b"--") if nested else source.rfind(delimiter + b"--")) == -1:
        raise Unusable(f"{part.content_type} part is not terminated")
    delimiters.append(delimiter)
    child_default = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
    quoted_printable = False
    for child in node.children:
        quoted_printable |= _walk_fast(child, body, child_default, source, delimiters, nested=True)
    return quoted_printable


def parse_fast(raw: bytes) -> ParsedMessage:
    """The fast path alone (raises `Unusable` where `parse_message` would fall back)."""
    head = read_head(raw)
    return assemble(head, fast_body(head, raw), len(raw), "fast")
