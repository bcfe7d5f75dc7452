"""Parse a large stored message from its file without holding it, or any decoded copy, in memory.

The header block is read (capped) and split exactly as `pipelines.mime.headers` splits it; the body is then
read line by line. Multipart boundaries are tracked on a stack (nested parts, and an outer boundary
closing inner parts that never closed, as the stdlib does), each leaf's transfer encoding is decoded
incrementally into a sha256 and a byte count, and only the first text/plain and text/html bodies are
kept, up to the text cap. What comes out is assembled by the same code as the in-memory paths, so
the fields agree with `parse_message` on the same message.
"""

from __future__ import annotations

import binascii
import hashlib
from pathlib import Path
from typing import BinaryIO

from pipelines.mime.assemble import assemble
from pipelines.mime.body import HTML_CAP, TEXT_CAP, Body
from pipelines.mime.headers import (
    HEADER_BLOCK_CAP,
    LAST_HEADER_LINE,
    MIME_HEADERS,
    SEPARATOR_AHEAD,
    Head,
    decode_header_bytes,
    header_fields,
    read_head,
)
from pipelines.mime.message import ParsedMessage
from pipelines.mime.parts import ATTACHMENT, HTML, PLAIN, Part, read_part
from pipelines.mime.transfer import B64_WHITESPACE, NOT_B64, b64_clean, b64_tail

__all__ = ["parse_message_stream", "parse_stream"]

LINE_CHUNK = 64 * 1024
"""Longest piece read at once; longer lines arrive in several pieces."""
PART_HEADER_CAP = 64 * 1024
"""Header bytes kept per MIME part."""
_BASE64_BATCH = 256 * 1024
_MIME_WANTED = frozenset(MIME_HEADERS)


def parse_message_stream(path: Path) -> ParsedMessage:
    """Parse the message stored at `path` in bounded memory (`parser == 'stream'`)."""
    with path.open("rb") as fh:
        return parse_stream(fh, path.stat().st_size)


def parse_stream(fh: BinaryIO, size: int) -> ParsedMessage:
    """Parse the `size` bytes readable from `fh`, holding only what the result keeps."""
    head = _read_top_head(fh, size)
    body = Body()
    top = {name: values[0] for name in MIME_HEADERS if (values := head.fields.get(name))}
    _Walker(fh, body).run(read_part(top, "text/plain", body.warnings))
    return assemble(head, body, size, "stream")


def _read_top_head(fh: BinaryIO, size: int) -> Head:
    """Read just enough of the file to split the header block, and leave `fh` at the body."""
    buffer = fh.read(LINE_CHUNK)
    while len(buffer) < min(size, HEADER_BLOCK_CAP + LINE_CHUNK) and not SEPARATOR_AHEAD.search(buffer):
        buffer += fh.read(len(buffer))
    head = read_head(buffer, complete=len(buffer) == size)
    if head.body_start is None:  # an oversized header block: skip to its end
        fh.seek(buffer.rfind(b"\n") + 1)
        for line in iter(lambda: fh.readline(LINE_CHUNK), b""):
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

    __slots__ = ("data", "limit", "cut")

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
# Incremental transfer decoders. Each gets whole lines (with their line break) or pieces of an
# over-long line, and on close learns whether the last line break belongs to a boundary.


def _split_eol(line: bytes) -> tuple[bytes, bytes]:
    if line.endswith(b"\n"):
        return (line[:-2], b"\r\n") if line.endswith(b"\r\n") else (line[:-1], b"\n")
    if line.endswith(b"\r"):  # a file cut between CR and LF
        return line[:-1], b"\r"
    return line, b""


class _Identity:
    __slots__ = ("out", "pending")

    def __init__(self, out: _Consumer) -> None:
        self.out = out
        self.pending = b""

    def line(self, line: bytes) -> None:
        content, eol = _split_eol(line)
        self.out.write(self.pending + content if self.pending else content)
        self.pending = eol

    def close(self, drop_eol: bool) -> bool:
        if self.pending and not drop_eol:
            self.out.write(self.pending)
        return True


class _QuotedPrintable:
    """Decodes like `pipelines.mime.transfer`: trailing spaces dropped, soft breaks joined, CRLF breaks."""

    __slots__ = ("out", "pending_break")

    def __init__(self, out: _Consumer) -> None:
        self.out = out
        self.pending_break = False

    def line(self, line: bytes) -> None:
        if self.pending_break:
            self.out.write(b"\r\n")
        content, eol = _split_eol(line)
        content = content.rstrip(b" \t")
        if content.endswith(b"="):
            self.out.write(binascii.a2b_qp(content[:-1]))
            self.pending_break = False
        else:
            self.out.write(binascii.a2b_qp(content))
            self.pending_break = bool(eol)

    def close(self, drop_eol: bool) -> bool:
        if self.pending_break and not drop_eol:
            self.out.write(b"\r\n")
        return True


class _Base64:
    """Decodes like `transfer.b64decode`: the same bytes, and the same verdict on damaged input."""

    __slots__ = ("out", "buffer", "rest", "letters", "pads", "junk", "after_pad")

    def __init__(self, out: _Consumer) -> None:
        self.out = out
        self.buffer = bytearray()
        self.rest = b""
        self.letters = 0
        self.pads = 0
        self.junk = False
        self.after_pad = False

    def line(self, line: bytes) -> None:
        self.buffer += line
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


# --------------------------------------------------------------------------------------------
# The walk


class _Multipart:
    """An open multipart: its delimiters, and its preamble while no part has begun."""

    __slots__ = ("delimiter", "close", "child_default", "parts", "preamble")

    def __init__(self, part: Part) -> None:
        assert part.boundary is not None
        self.delimiter = b"--" + part.boundary.encode("utf-8", "surrogateescape")
        self.close = self.delimiter + b"--"
        self.child_default = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
        self.parts = 0
        self.preamble: _Leaf | None = _Leaf(part.as_text(), None)


class _Leaf:
    """One leaf part being read: its decoder, and what the decoded bytes feed."""

    __slots__ = ("part", "decoder", "out", "body")

    def __init__(self, part: Part, body: Body | None) -> None:
        self.part = part
        self.body = body
        kind = part.kind
        out: _Consumer
        if kind == ATTACHMENT:
            out = _Hasher()
        elif kind == PLAIN and (body is None or body.plain is None):
            out = _TextKeeper(TEXT_CAP * 4)  # 4 bytes hold at least one character in any charset
        elif kind == HTML and (body is None or body.html is None and not body.has_text()):
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

    def finish(self, body: Body, drop_eol: bool) -> None:
        if not self.decoder.close(drop_eol):
            body.warnings.append("bad_base64")
        out, part = self.out, self.part
        if isinstance(out, _Hasher):
            body.attachment(part, out.size, out.digest.hexdigest())
        elif isinstance(out, _TextKeeper):
            body.text(part, bytes(out.data), out.cut)
        elif part.kind in (PLAIN, HTML):
            body.text(part, b"")  # a later body part: only that it exists matters (has_html)


class _Walker:
    """Reads the body line by line, routing each line to a boundary, a part's headers or a leaf."""

    __slots__ = ("fh", "body", "stack", "leaf", "header_lines", "header_bytes")

    def __init__(self, fh: BinaryIO, body: Body) -> None:
        self.fh = fh
        self.body = body
        self.stack: list[_Multipart] = []
        self.leaf: _Leaf | None = None
        """Where body lines go: a leaf, a preamble, or None (an epilogue)."""
        self.header_lines: list[bytes] | None = None
        """The header lines of a part being read, or None when reading a body."""
        self.header_bytes = 0

    def run(self, top: Part) -> None:
        self._start(top)
        readline = self.fh.readline
        line_start = True
        while line := readline(LINE_CHUNK):
            if line_start and self.stack and line.startswith(b"--") and self._boundary(line):
                line_start = line.endswith(b"\n")
                continue
            line_start = line.endswith(b"\n")
            if self.header_lines is not None and self._header_line(line):
                continue
            if self.leaf is not None:
                self.leaf.decoder.line(line)
        self._eof()

    def _start(self, part: Part) -> None:
        if part.content_type.startswith("multipart/"):
            if part.boundary:
                multipart = _Multipart(part)
                self.stack.append(multipart)
                self.leaf = multipart.preamble
                return
            self.body.warnings.append("multipart_boundary_missing")
            part = part.as_text()
        self.leaf = _Leaf(part, self.body)

    def _boundary(self, line: bytes) -> bool:
        """Handle `line` if it is a delimiter of an open multipart (innermost first)."""
        stripped = line.rstrip(b" \t\r\n")
        for depth in range(len(self.stack) - 1, -1, -1):
            multipart = self.stack[depth]
            closing = stripped == multipart.close
            if not closing and stripped != multipart.delimiter:
                continue
            if not closing and depth == len(self.stack) - 1 and self.header_lines == []:
                return True  # a repeated delimiter opens no part (as the stdlib reads RFC 2046)
            self._end_leaf(drop_eol=True)
            while len(self.stack) > depth + 1:
                self._finish(self.stack.pop(), closed=False, drop_eol=True)
            if closing:
                self._finish(self.stack.pop(), closed=True, drop_eol=True)
            else:
                multipart.parts += 1
                multipart.preamble = None
                self.header_lines, self.header_bytes = [], 0
            return True
        return False

    def _header_line(self, line: bytes) -> bool:
        """Collect a part's header line; False when `line` is already body (no blank line came)."""
        lines = self.header_lines
        assert lines is not None
        blank = not line.strip()
        if not blank and (line[:1] in (b" ", b"\t") and lines or LAST_HEADER_LINE.match(line)):
            self.header_bytes += len(line)
            if self.header_bytes <= PART_HEADER_CAP:
                lines.append(line)
            elif self.header_bytes - len(line) <= PART_HEADER_CAP:
                self.body.warnings.append("header_truncated")
            return True
        self._begin_part()
        return blank

    def _begin_part(self) -> None:
        """Start the part whose header lines were collected."""
        assert self.header_lines is not None
        text = decode_header_bytes(b"".join(self.header_lines), [])  # top-level flags only
        self.header_lines = None
        fields = header_fields(text, self.body.warnings, _MIME_WANTED)
        headers = {name: values[0] for name, values in fields.items()}
        default_type = self.stack[-1].child_default if self.stack else "text/plain"
        self._start(read_part(headers, default_type, self.body.warnings))

    def _end_leaf(self, drop_eol: bool) -> None:
        if self.header_lines is not None:
            self._begin_part()  # a part with headers and no body
        leaf, self.leaf = self.leaf, None
        if leaf is not None and leaf.body is not None:  # a preamble waits for its multipart's end
            leaf.finish(self.body, drop_eol)

    def _finish(self, multipart: _Multipart, closed: bool, drop_eol: bool) -> None:
        """Close a multipart; one that never reached a delimiter is read as its text."""
        if multipart.parts == 0 and multipart.preamble is not None:
            self.body.warnings.append("multipart_boundary_missing")
            multipart.preamble.finish(self.body, drop_eol)
        elif not closed:
            self.body.warnings.append("multipart_unterminated")
        self.leaf = None  # what follows, up to an outer delimiter, is an epilogue

    def _eof(self) -> None:
        """The file ended: an open multipart's last part loses its final line break, as in the stdlib."""
        if self.header_lines is not None:
            self._begin_part()
        self._end_leaf(drop_eol=bool(self.stack))
        while self.stack:
            self._finish(self.stack.pop(), closed=False, drop_eol=False)
