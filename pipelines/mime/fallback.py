"""The fallback walker: the stdlib's ``email`` parser (``policy=compat32``) splits the MIME tree,
our own lenient decoders decode it, and every repair is reported as a warning.

The stdlib is handed the body only up to where `pipelines.mime.structure.measure` stopped at a limit, and
reads each multipart's boundary with our own parameter parser (its own is quadratic in the number of
parameters)."""

from __future__ import annotations

import email.errors
import email.parser
from email.message import Message
from email.policy import compat32

from pipelines.mime.assemble import assemble
from pipelines.mime.body import Body
from pipelines.mime.charsets import decode_8bit
from pipelines.mime.headers import Head, mime_source, read_head
from pipelines.mime.message import ParsedMessage
from pipelines.mime.parts import read_part
from pipelines.mime.structure import Shape, measure
from pipelines.mime.transfer import transfer_decode


class _OpaqueMessage(Message):
    """A stdlib message that keeps message/* parts as undivided leaves: the forwarded message's
    original bytes can then be hashed, and its text never mixes into ours."""

    def get_content_type(self) -> str:
        ctype = super().get_content_type()
        return "application/octet-stream" if ctype.startswith("message/") else ctype

    def get_boundary(self, failobj: object = None) -> object:
        """The boundary parameter as `pipelines.mime.parts` reads it (linear in the header's length)."""
        return read_part(_std_headers(self), "text/plain", []).boundary or failobj

    def raw_payload(self) -> bytes:
        """A leaf's body bytes exactly as they were (`get_payload` re-decodes 8-bit text)."""
        payload = self._payload
        return payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""


def fallback_body(head: Head, raw: bytes, shape: Shape) -> Body:
    """The body parts as the stdlib splits them (up to the limit `shape` found), decoded by our own
    lenient decoders."""
    parser = email.parser.BytesParser(_class=_OpaqueMessage, policy=compat32)
    body = Body()
    if shape.limit is not None:
        body.warnings.append(shape.limit)
    try:
        _walk_fallback(parser.parsebytes(mime_source(head, raw, shape.cut)), body, "text/plain")
    except RecursionError:  # the stdlib saw deeper nesting than the limit allows where we saw none
        body.warnings.append("limit_nesting")
    return body


def _std_headers(msg: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = name.lower()
        if key not in headers and key.startswith("content-"):
            text = decode_8bit(value.encode("ascii", "surrogateescape"))
            headers[key] = text.replace("\r", "").replace("\n", "")
    return headers


def _walk_fallback(msg: _OpaqueMessage, body: Body, default_type: str) -> None:
    part = read_part(_std_headers(msg), default_type, body.warnings)
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
    content, clean = transfer_decode(msg.raw_payload(), part.encoding)
    if not clean:
        body.warnings.append("bad_base64")
    body.leaf(part, content)


def parse_fallback(raw: bytes) -> ParsedMessage:
    """The fallback path alone, for comparing the walkers on the same messages."""
    head = read_head(raw)
    return assemble(head, fallback_body(head, raw, measure(head, raw)), len(raw), "fallback")
