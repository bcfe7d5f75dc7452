"""Parse a large stored message from its file without holding it, or any decoded copy, in memory.

The header block is read (capped) and split exactly as `pipelines.mime.headers` splits it; the body is then
walked by `pipelines.mime.structure.Walker` (nested parts, an outer boundary closing inner parts that never
closed, as the stdlib does, and the structural limits), each leaf's transfer encoding is decoded
incrementally into a sha256 and a byte count, and only the first text/plain and text/html bodies are
kept, up to the text caps. What comes out is assembled by the same code as the in-memory paths, so
the fields agree with `parse_message` on the same message.
"""

from __future__ import annotations

import binascii
import hashlib
from pathlib import Path
from typing import BinaryIO

from pipelines.mime.assemble import assemble
from pipelines.mime.body import HTML_CAP, TEXT_CAP, Body
from pipelines.mime.headers import HEADER_BLOCK_CAP, MIME_HEADERS, SEPARATOR_AHEAD, Head, read_head
from pipelines.mime.limits import check_size
from pipelines.mime.message import ParsedMessage
from pipelines.mime.parts import ATTACHMENT, HTML, PLAIN, Part, read_part
from pipelines.mime.structure import Walker
from pipelines.mime.transfer import B64_WHITESPACE, NOT_B64, QuotedPrintable, b64_clean, b64_tail

__all__ = ["parse_message_stream", "parse_stream"]

_HEAD_CHUNK = 64 * 1024
"""Bytes read at once while looking for the end of the header block."""
_BASE64_BATCH = 256 * 1024


def parse_message_stream(path: Path) -> ParsedMessage:
    """Parse the message stored at `path` in bounded memory (`parser == 'stream'`)."""
    with path.open("rb") as fh:
        return parse_stream(fh, path.stat().st_size)


def parse_stream(fh: BinaryIO, size: int) -> ParsedMessage:
    """Parse the `size` bytes readable from `fh`, holding only what the result keeps.

    Raises MimeLimitError above `MESSAGE_SIZE_LIMIT`, MimeParseError for input that is not mail."""
    check_size(size)
    head = _read_top_head(fh, size)
    body = Body()
    top = {name: values[0] for name in MIME_HEADERS if (values := head.fields.get(name))}
    walker = Walker(fh, lambda part, preamble: _Leaf(part, body, preamble), body.warnings)
    walker.walk(read_part(top, "text/plain", body.warnings))
    return assemble(head, body, size, "stream")


def _read_top_head(fh: BinaryIO, size: int) -> Head:
    """Read just enough of the file to split the header block, and leave `fh` at the body."""
    buffer = fh.read(_HEAD_CHUNK)
    while len(buffer) < min(size, HEADER_BLOCK_CAP + _HEAD_CHUNK) and not SEPARATOR_AHEAD.search(buffer):
        buffer += fh.read(len(buffer))
    head = read_head(buffer, complete=len(buffer) == size)
    if head.body_start is None:  # an oversized header block: skip to its end
        fh.seek(buffer.rfind(b"\n") + 1)
        for line in iter(lambda: fh.readline(_HEAD_CHUNK), b""):
            if line.isspace():
                break
    else:
        fh.seek(head.body_start)
    return head


# --------------------------------------------------------------------------------------------
# Where decoded bytes go


class _Hasher:
    """An attachment: only its size and sha256 are kept."""

    __slots__ = ("digest", "size")

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self.digest.update(data)


class _TextKeeper:
    """A body candidate: its bytes are kept up to a limit (enough for the character cap)."""

    __slots__ = ("cut", "data", "limit")

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.limit = limit
        self.cut = False

    def write(self, data: bytes) -> None:
        room = self.limit - len(self.data)
        if len(data) > room:
            self.cut = True
            data = data[: max(room, 0)]
        self.data += data


class _Discard:
    __slots__ = ()

    def write(self, data: bytes) -> None:
        pass


_Consumer = _Hasher | _TextKeeper | _Discard


# --------------------------------------------------------------------------------------------
# Incremental transfer decoders. Each is fed the body in pieces (usually whole lines) and on close
# learns whether the last line break belongs to a boundary.


def _split_eol(data: bytes) -> tuple[bytes, bytes]:
    if data.endswith(b"\n"):
        return (data[:-2], b"\r\n") if data.endswith(b"\r\n") else (data[:-1], b"\n")
    if data.endswith(b"\r"):  # cut between CR and LF
        return data[:-1], b"\r"
    return data, b""


class _Identity:
    __slots__ = ("out", "pending")

    def __init__(self, out: _Consumer) -> None:
        self.out = out
        self.pending = b""

    def feed(self, data: bytes) -> None:
        content, eol = _split_eol(data)
        self.out.write(self.pending + content if self.pending else content)
        self.pending = eol

    def close(self, drop_eol: bool) -> bool:
        if self.pending and not drop_eol:
            self.out.write(self.pending)
        return True


class _QuotedPrintable:
    """`pipelines.mime.transfer.QuotedPrintable` into a consumer."""

    __slots__ = ("decoder",)

    def __init__(self, out: _Consumer) -> None:
        self.decoder = QuotedPrintable(out.write)

    def feed(self, data: bytes) -> None:
        self.decoder.feed(data)

    def close(self, drop_eol: bool) -> bool:
        self.decoder.close(drop_eol)
        return True


class _Base64:
    """Decodes like `transfer.b64decode`: the same bytes, and the same verdict on damaged input."""

    __slots__ = ("after_pad", "buffer", "junk", "letters", "out", "pads", "rest")

    def __init__(self, out: _Consumer) -> None:
        self.out = out
        self.buffer = bytearray()
        self.rest = b""
        self.letters = 0
        self.pads = 0
        self.junk = False
        self.after_pad = False

    def feed(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= _BASE64_BATCH:
            self._drain()

    def _drain(self) -> None:
        chunk = bytes(self.buffer).translate(None, B64_WHITESPACE)
        self.buffer.clear()
        letters = chunk.translate(None, NOT_B64)
        if len(letters) != len(chunk):
            pads = chunk.count(b"=")
            self.junk = self.junk or len(letters) + pads != len(chunk)
            self.after_pad = self.after_pad or b"=" in chunk.rstrip(b"=") or bool(self.pads and letters)
            self.pads += pads
        elif self.pads and letters:
            self.after_pad = True
        self.letters += len(letters)
        data = self.rest + letters
        whole = len(data) - len(data) % 4
        if whole:
            self.out.write(binascii.a2b_base64(data[:whole]))
        self.rest = data[whole:]

    def close(self, drop_eol: bool) -> bool:
        self._drain()
        if self.rest:
            self.out.write(b64_tail(self.rest))
        return b64_clean(self.letters, self.pads, self.junk or self.after_pad)


_Decoder = _Identity | _QuotedPrintable | _Base64


class _Leaf:
    """The sink of one part: its decoder, and what the decoded bytes feed."""

    __slots__ = ("body", "decoder", "out", "part")

    def __init__(self, part: Part, body: Body, preamble: bool) -> None:
        if preamble:
            part = part.as_text()
        self.part = part
        self.body = body
        kind = part.kind
        out: _Consumer
        if kind == ATTACHMENT:
            out = _Hasher()
        elif kind == PLAIN and (preamble or body.plain is None):
            out = _TextKeeper(TEXT_CAP * 4)  # 4 bytes hold at least one character in any charset
        elif kind == HTML and body.html is None:
            out = _TextKeeper(HTML_CAP * 4)
        else:
            out = _Discard()
        self.out = out
        encoding = part.encoding
        decoder: _Decoder
        if encoding == "base64":
            decoder = _Base64(out)
        elif encoding == "quoted-printable":
            decoder = _QuotedPrintable(out)
        else:
            decoder = _Identity(out)
        self.decoder = decoder

    def write(self, data: bytes) -> None:
        self.decoder.feed(data)

    def finish(self, drop_eol: bool) -> None:
        body = self.body
        if not self.decoder.close(drop_eol):
            body.warnings.append("bad_base64")
        out, part = self.out, self.part
        if isinstance(out, _Hasher):
            body.attachment(part, out.size, out.digest.hexdigest())
        elif isinstance(out, _TextKeeper):
            body.text(part, bytes(out.data), out.cut)
        elif part.kind in (PLAIN, HTML):
            body.text(part, b"")  # a later body part: only that it exists matters (has_html)
