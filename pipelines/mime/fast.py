"""The fast walker: fast-mail-parser's tree API (Rust) splits and transfer-decodes the body parts.

It refuses, with `Unusable`, every message it would have to guess about (bad base64, a multipart
without usable or closing boundaries, a part whose headers run into its body, an empty part,
quoted-printable it decodes its own way) and every message beyond a structural limit, so that the
fallback walker reads those. What it must know of the structure comes from the one pass of
`pipelines.mime.structure.measure`, never from searching the source again.
"""

from __future__ import annotations

import fast_mail_parser

from pipelines.mime.assemble import assemble
from pipelines.mime.body import Body
from pipelines.mime.headers import Head, mime_source, read_head
from pipelines.mime.limits import PART_LIMIT
from pipelines.mime.message import ParsedMessage
from pipelines.mime.parts import read_part
from pipelines.mime.structure import Shape, measure


class Unusable(Exception):
    """This path cannot parse the message as it is; the next path should."""


def fast_body(head: Head, raw: bytes, shape: Shape) -> Body:
    """The body parts as fast-mail-parser splits and decodes them; `Unusable` where it would guess.

    `shape` is the message's structure as `pipelines.mime.structure.measure` found it: a body cut at a
    limit, a multipart without delimiters or never closed, a part without an empty line after its
    headers, or quoted-printable text fast-mail-parser decodes its own way (it drops raw 8-bit bytes,
    keeps stray '=' differently, turns a soft line break ending the message into a line break) leave the
    message to the fallback walker."""
    if shape.cut is not None:
        raise Unusable(f"the body is read up to a limit ({shape.limit})")
    if shape.unterminated:
        raise Unusable("a multipart without delimiters or without its close delimiter")
    if shape.unseparated:
        # fast-mail-parser would take the body's first line for a header and skip to the next empty line
        raise Unusable("a part without an empty line after its headers")
    if shape.qp_ambiguous:
        raise Unusable("a quoted-printable part fast-mail-parser would decode its own way")
    source = mime_source(head, raw)
    if source.count(b"\n--") > 2 * PART_LIMIT:
        # fast-mail-parser also splits forwarded messages, which the other walkers keep whole: they must
        # not hand it more delimiters than the part limit allows for (each part has at most two), nor
        # the nesting they would allow (it overflows its stack at about 35,000 levels, killing the process).
        raise Unusable("more lines starting with -- than the part limit allows")
    try:
        tree = fast_mail_parser.parse_email_tree(source)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # ParseError, and a Rust panic surfaces as a BaseException
        raise Unusable(f"fast-mail-parser: {exc}") from exc
    body = Body()
    _walk_fast(tree, body, "text/plain")
    return body


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


def _walk_fast(node: fast_mail_parser.PyMimePart, body: Body, default_type: str, nested: bool = False) -> None:
    """Collect the parts under `node`."""
    part = read_part(_fmp_headers(node), default_type, body.warnings)
    multipart = part.content_type.startswith("multipart/")
    if node.is_message or not (multipart or node.children):
        content = node.content or b""
        if nested and not content:
            # Also what fast-mail-parser returns for a part whose body it could not find.
            raise Unusable("empty part")
        body.leaf(part, content)
        return
    if not (multipart and node.children and part.boundary):
        raise Unusable(f"{part.content_type} part without usable boundaries")
    child_default = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
    for child in node.children:
        _walk_fast(child, body, child_default, nested=True)


def parse_fast(raw: bytes) -> ParsedMessage:
    """The fast path alone (raises `Unusable` where `parse_message` would fall back)."""
    head = read_head(raw)
    return assemble(head, fast_body(head, raw, measure(head, raw)), len(raw), "fast")
