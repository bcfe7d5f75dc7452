"""The MIME structure of a message body, walked in one linear pass with the structural limits applied.

`Walker` reads a body from a binary file in blocks. Runs of body lines go to the open leaf in bulk; only
lines that start with `--` (possible delimiters) and the lines of part header blocks are looked at one by
one. Open multiparts sit on a stack of at most `NESTING_LIMIT`, with a dict from each open delimiter (and
close delimiter) to the multiparts using it, so a line is matched in constant time however deep the
nesting. Each leaf's body bytes go to a `Sink` chosen by the caller for that part.

When a limit of `pipelines.mime.limits` is reached the walker stops as if the file ended there: `cut`
holds that offset in the body and the limit's warning is added. The streaming walker decodes leaves
through a `Walker`; `measure` walks a message held in memory before the fast and fallback walkers, which
are then handed the body up to the same offset, so all three keep the same parts.

The rules are the stdlib's reading of RFC 2046, which the fallback walker uses: a delimiter line is
`--boundary` (`--boundary--` to close) followed only by blanks; a line that is a delimiter of several
open multiparts belongs to the outermost, and an outer delimiter also closes the inner multiparts still
open; a delimiter (or close delimiter) right after a delimiter is skipped; a part's header block ends at an empty
line or at the first line that is not a header line (`Name:`, a line starting with a blank, or an mbox
`From ` line, which is the body's first line when it ends the block); the line break before a
delimiter belongs to the delimiter. Lines end at LF (a CR alone does not end a line, where the stdlib
would end it).
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from pipelines.mime.headers import MIME_HEADERS, Head, decode_header_bytes, header_fields
from pipelines.mime.limits import (
    FALLBACK_MULTIPART_COST,
    LINE_LENGTH_LIMIT,
    NESTING_LIMIT,
    PART_HEADER_LIMIT,
    PART_HEADER_LINES_LIMIT,
    PART_LIMIT,
)
from pipelines.mime.parts import Part, read_part

_BLOCK = 1024 * 1024
"""Bytes read from the file at once."""
_MIME_WANTED = frozenset(MIME_HEADERS)
_PART_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")
"""A line the stdlib takes into a part's header block (its `headerRE`)."""


class Sink(Protocol):
    """Where the body bytes of one part go."""

    def write(self, data: bytes) -> None:
        """The next body bytes, cut anywhere (usually after a line break)."""

    def finish(self, drop_eol: bool) -> None:
        """The part ended; `drop_eol`: its last line break belongs to the delimiter that follows."""


OpenLeaf = Callable[[Part, bool], Sink | None]
"""Chooses the sink of a part: (part, whether the sink is for the preamble of that multipart part) -> a
sink, or None to skip the bytes. A preamble's sink is finished only when its multipart never reached a
delimiter: the preamble is then read as the part's text (`Part.as_text`)."""


class _Reader:
    """A binary file read in blocks: whole lines, or runs of lines up to the next line that starts with
    `--`. What it returns does not depend on where the blocks fall."""

    __slots__ = ("base", "buffer", "eof", "fh", "line_start", "pos")

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.buffer = b""
        self.pos = 0
        self.base = 0
        """Offset of `buffer[0]` from where reading began."""
        self.eof = False
        self.line_start = True
        """Whether the next byte starts a line."""

    @property
    def offset(self) -> int:
        """Bytes handed out so far."""
        return self.base + self.pos

    def _more(self) -> bool:
        """Read one more block behind what is left; False at the end of the file."""
        if self.eof:
            return False
        data = self.fh.read(_BLOCK)
        if not data:
            self.eof = True
            return False
        self.base += self.pos
        self.buffer = self.buffer[self.pos :] + data
        self.pos = 0
        return True

    def line(self, limit: int) -> bytes:
        """The next line with its line break, or its first `limit` bytes when it is longer; b'' at the end."""
        while True:
            end = self.buffer.find(b"\n", self.pos, self.pos + limit)
            if end >= 0:
                end += 1
                break
            if len(self.buffer) - self.pos >= limit or not self._more():
                end = min(len(self.buffer), self.pos + limit)
                break
        line = self.buffer[self.pos : end]
        self.pos = end
        self.line_start = line.endswith(b"\n")
        return line

    def run(self, delimiters: Container[bytes] | None) -> tuple[bytes, bool]:
        """Body bytes from here: up to the next line that starts with `--` and is (or, unfinished or
        longer than `LINE_LENGTH_LIMIT`, may be) one of `delimiters` once blanks are stripped, then True:
        the caller reads that line next. Without delimiters, as much as is at hand. (b'', False) at the end.
        """
        while True:
            buffer, pos = self.buffer, self.pos
            if delimiters is not None:
                if self.line_start and len(buffer) - pos < 2 and self._more():
                    continue
                candidate = pos if self.line_start and buffer.startswith(b"--", pos) else _next_dashes(buffer, pos)
                while candidate >= 0:
                    eol = buffer.find(b"\n", candidate, candidate + LINE_LENGTH_LIMIT)
                    if eol < 0 or buffer[candidate:eol].rstrip(b" \t\r") in delimiters:
                        self.pos = candidate
                        self.line_start = True
                        return buffer[pos:candidate], True
                    candidate = _next_dashes(buffer, eol)
                end = buffer.rfind(b"\n", pos) + 1 or len(buffer)  # keep a partial last line: it may be one
            else:
                end = len(buffer)
            if end > pos:
                self.pos = end
                self.line_start = buffer[end - 1] == 10
                return buffer[pos:end], False
            if not self._more():
                return b"", False


def _next_dashes(buffer: bytes, start: int) -> int:
    """Where the next line after `start` that starts with `--` begins, or -1."""
    found = buffer.find(b"\n--", start)
    return found + 1 if found >= 0 else -1


def _read_header_block(block: bytes, default_type: str, warnings: list[str]) -> Part:
    """What a part's header block says."""
    fields = header_fields(decode_header_bytes(block, []), warnings, _MIME_WANTED)
    return read_part({name: values[0] for name, values in fields.items()}, default_type, warnings)


@functools.lru_cache(maxsize=1024)
def _cached_header_block(block: bytes, default_type: str) -> tuple[Part, tuple[str, ...]]:
    """`_read_header_block` for the short blocks most parts repeat."""
    warnings: list[str] = []
    return _read_header_block(block, default_type, warnings), tuple(warnings)


_CACHED_BLOCK_MAX = 1024
"""Bytes of a header block read through the cache at most, so the cache holds about a megabyte at most."""


class _Multipart:
    """An open multipart: its delimiters, its part count, and its preamble while no part has begun."""

    __slots__ = ("child_default", "close", "delimiter", "parts", "preamble")

    def __init__(self, part: Part, preamble: Sink | None) -> None:
        assert part.boundary is not None
        self.delimiter = b"--" + part.boundary.encode("utf-8", "surrogateescape")
        self.close = self.delimiter + b"--"
        self.child_default = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
        self.parts = 0
        self.preamble = preamble


class Walker:
    """Walks one body: `walk(top)` reads `fh` from where it stands to its end, or to a limit."""

    def __init__(self, fh: BinaryIO, open_leaf: OpenLeaf, warnings: list[str]) -> None:
        self.reader = _Reader(fh)
        self.open_leaf = open_leaf
        self.warnings = warnings
        self.stack: list[_Multipart] = []
        self.delimiters: dict[bytes, list[tuple[int, bool]]] = {}
        """Each open delimiter and close delimiter -> (stack index, closes) of its multiparts, outermost first."""
        self.leaf: Sink | None = None
        """Where body lines go: a leaf, a preamble, or None (an epilogue, a skipped part)."""
        self.in_preamble = False
        self.header_lines: list[bytes] | None = None
        """The header lines of a part being read, or None when reading a body."""
        self.header_bytes = 0
        self.header_lines_seen = 0
        self.parts = 0
        """Parts begun, over all multiparts."""
        self.depth = 0
        """Most multiparts open at once."""
        self.multiparts = 0
        """Multiparts begun."""
        self.unseparated = False
        """Whether a part's header block ran into its body (no empty line between them)."""
        self.cut: int | None = None
        """Offset in the body where a limit stopped the walk, or None."""
        self.limit: str | None = None
        """That limit's warning."""

    def walk(self, top: Part) -> None:
        """Read the body of the message whose top-level part is `top`."""
        reader = self.reader
        self._start(top, 0)
        while self.cut is None:
            if self.header_lines is not None:
                mark, at_start = reader.offset, reader.line_start
                line = reader.line(LINE_LENGTH_LIMIT)
                if not line:
                    break
                if not (at_start and line.startswith(b"--") and self._boundary(line, mark)):
                    self._header_line(line, mark)
                continue
            chunk, candidate = reader.run(self.delimiters if self.stack else None)
            if chunk and self.leaf is not None:
                self.leaf.write(chunk)
            if candidate:
                mark = reader.offset
                line = reader.line(LINE_LENGTH_LIMIT)
                if not self._boundary(line, mark) and self.leaf is not None:
                    self.leaf.write(line)
            elif not chunk:
                break
        self._eof()

    def _stop(self, offset: int, limit: str) -> None:
        """A limit is reached: the body is read as ending at `offset`."""
        if self.cut is None:
            self.cut, self.limit = offset, limit
            self.warnings.append(limit)

    def _start(self, part: Part, offset: int) -> None:
        """Begin reading a part whose header block ends at `offset`."""
        if part.content_type.startswith("multipart/"):
            if part.boundary:
                multipart = _Multipart(part, self.open_leaf(part, True))
                index = len(self.stack)
                self.stack.append(multipart)
                self.delimiters.setdefault(multipart.delimiter, []).append((index, False))
                self.delimiters.setdefault(multipart.close, []).append((index, True))
                self.depth = max(self.depth, index + 1)
                self.multiparts += 1
                self.leaf, self.in_preamble = multipart.preamble, True
                if index + 1 > NESTING_LIMIT:
                    self._stop(offset, "limit_nesting")
                return
            self.warnings.append("multipart_boundary_missing")
            part = part.as_text()
        self.leaf, self.in_preamble = self.open_leaf(part, False), False

    def _pop(self) -> _Multipart:
        multipart = self.stack.pop()
        for key in (multipart.delimiter, multipart.close):
            entries = self.delimiters[key]
            entries.pop()
            if not entries:
                del self.delimiters[key]
        return multipart

    def _boundary(self, line: bytes, mark: int) -> bool:
        """Handle `line` (starting at `mark`) if it is a delimiter of an open multipart."""
        entries = self.delimiters.get(line.rstrip(b" \t\r\n"))
        if not entries:
            return False
        if len(line) >= LINE_LENGTH_LIMIT and not line.endswith(b"\n"):
            self._stop(mark, "limit_line_length")  # only blanks so far: it may still be this delimiter
            return True
        index, closing = entries[0]  # the outermost: the stdlib lets outer boundaries end inner parts first
        if index == len(self.stack) - 1 and self.header_lines == []:
            return True  # right after a delimiter, a delimiter or even the close one is skipped, as the stdlib does
        if not closing and self.parts >= PART_LIMIT:
            self._stop(mark, "limit_parts")
            return True
        self._end_leaf(drop_eol=True, offset=mark)
        if self.cut is not None:
            return True
        while len(self.stack) > index + 1:
            self._finish(self._pop(), closed=False)
        if closing:
            self._finish(self._pop(), closed=True)
        else:
            multipart = self.stack[index]
            multipart.parts += 1
            multipart.preamble = None
            self.parts += 1
            self.header_lines, self.header_bytes = [], 0
        return True

    def _header_line(self, line: bytes, mark: int) -> None:
        """Take a line of a part's header block, or begin the part's body when it is not one."""
        lines = self.header_lines
        assert lines is not None
        if _PART_HEADER_LINE.match(line):
            if self.header_bytes + len(line) > PART_HEADER_LIMIT:
                self._stop(mark, "limit_part_header_size")
            elif self.header_lines_seen >= PART_HEADER_LINES_LIMIT:
                self._stop(mark, "limit_part_header_lines")
            else:
                self.header_bytes += len(line)
                self.header_lines_seen += 1
                lines.append(line)
            return
        empty = not line.rstrip(b"\r\n")
        self.unseparated = self.unseparated or not empty
        self._begin_part(self.reader.offset if empty else mark)
        if not empty and self.cut is None and self.leaf is not None:
            self.leaf.write(line)

    def _begin_part(self, offset: int) -> None:
        """Start the part whose header lines were collected; its body begins at `offset`."""
        lines = self.header_lines
        assert lines is not None
        self.header_lines = None
        first_body_line = lines.pop() if len(lines) > 1 and lines[-1].startswith(b"From ") else None
        block = b"".join(lines)
        default_type = self.stack[-1].child_default if self.stack else "text/plain"
        if len(block) <= _CACHED_BLOCK_MAX:
            part, warnings = _cached_header_block(block, default_type)
            self.warnings.extend(warnings)
        else:
            part = _read_header_block(block, default_type, self.warnings)
        self._start(part, offset)
        if first_body_line is not None and self.leaf is not None:
            self.leaf.write(first_body_line)  # as the stdlib reads an mbox 'From ' line ending a header block

    def _end_leaf(self, drop_eol: bool, offset: int) -> None:
        if self.header_lines is not None:
            self._begin_part(offset)  # a part with headers and no body
        leaf, self.leaf = self.leaf, None
        if leaf is not None and not self.in_preamble:  # a preamble waits for its multipart's end
            leaf.finish(drop_eol)

    def _finish(self, multipart: _Multipart, closed: bool) -> None:
        """Close a multipart; one that never reached a delimiter is read as its text, last line break
        included (the stdlib strips that break only from the parts of a multipart it could split)."""
        if multipart.parts == 0:
            self.warnings.append("multipart_boundary_missing")
            if multipart.preamble is not None:
                multipart.preamble.finish(False)
        elif not closed:
            self.warnings.append("multipart_unterminated")
        self.leaf, self.in_preamble = None, False  # what follows, up to an outer delimiter, is an epilogue

    def _eof(self) -> None:
        """The file ended (or a limit was reached): an open multipart's last part loses its final line
        break, as in the stdlib."""
        end = self.reader.offset if self.cut is None else self.cut
        if self.header_lines is not None:
            self._begin_part(end)
        self._end_leaf(drop_eol=bool(self.stack), offset=end)
        while self.stack:
            self._finish(self._pop(), closed=False)


# --------------------------------------------------------------------------------------------
# The pass over a message in memory, before the fast and fallback walkers


@dataclass(frozen=True, slots=True)
class Shape:
    """What one pass over a message's body found."""

    cut: int | None
    """Offset in the body where a limit stopped the walk: the body is read up to there only."""
    limit: str | None
    """That limit's warning (``limit_…``), or None."""
    depth: int
    """Most multiparts open at once."""
    parts: int
    """Body parts begun."""
    multiparts: int
    """Multiparts begun, the message's own included."""
    unterminated: bool
    """A multipart never reached a delimiter, or was never closed."""
    unseparated: bool
    """A part's header block ran into its body (a body line where the empty line belongs)."""
    qp_ambiguous: bool
    """A quoted-printable leaf fast-mail-parser decodes differently (raw 8-bit or control bytes, a stray
    '=', a final soft break)."""
    lines: int
    """Line breaks in the body read (a lone CR counted, as the stdlib splits on it)."""


class _QuotedPrintableLeaves:
    """Opens a sink for every quoted-printable leaf that notes whether fast-mail-parser would decode it
    differently: raw 8-bit or control bytes (it drops them), an '=' that starts neither an escape nor a soft
    line break (it keeps more of them), or a soft line break ending the message (it writes a line break)."""

    def __init__(self) -> None:
        self.ambiguous = False

    def open_leaf(self, part: Part, preamble: bool) -> Sink | None:
        return _QuotedPrintableLeaf(self) if part.encoding == "quoted-printable" and not preamble else None


class _QuotedPrintableLeaf:
    __slots__ = ("leaves", "size", "tail")

    def __init__(self, leaves: _QuotedPrintableLeaves) -> None:
        self.leaves = leaves
        self.tail = b""
        """The last bytes of the body."""
        self.size = 0

    def write(self, data: bytes) -> None:
        if not self.leaves.ambiguous and (data.translate(None, _QP_PLAIN) or _QP_ODD_ESCAPE.search(data)):
            self.leaves.ambiguous = True
        self.tail = (self.tail + data[-_QP_TAIL:])[-_QP_TAIL:]
        self.size += len(data)

    def finish(self, drop_eol: bool) -> None:
        if drop_eol or not self.tail.endswith(b"\n"):
            return  # a delimiter follows: the line break is not the body's
        body = self.tail[:-1]
        last_line = body.rsplit(b"\n", 1)[-1]
        if len(last_line) == len(body) and self.size > _QP_TAIL or last_line.rstrip(b" \t\r").endswith(b"="):
            self.leaves.ambiguous = True


_QP_PLAIN = bytes(range(32, 127)) + b"\t\r\n"
"""The bytes fast-mail-parser keeps in quoted-printable text."""
_QP_ODD_ESCAPE = re.compile(rb"=(?![0-9A-Fa-f]{2}|[ \t]*\r?\n)")
"""An '=' that is neither an escape nor a soft line break (at the end of a piece: not known yet)."""
_QP_TAIL = 256
"""Bytes kept of the end of a quoted-printable body (a last line longer than this counts as ambiguous)."""


def measure(head: Head, raw: bytes) -> Shape:
    """Walk the body of the message `raw` (whose header block is `head`) once, applying the limits."""
    start = head.body_start or 0
    fh = io.BytesIO(raw)
    fh.seek(start)
    warnings: list[str] = []
    qp = _QuotedPrintableLeaves()
    walker = Walker(fh, qp.open_leaf, warnings)
    top = {name: values[0] for name in MIME_HEADERS if (values := head.fields.get(name))}
    walker.walk(read_part(top, "text/plain", warnings))
    end = len(raw) if walker.cut is None else start + walker.cut
    return Shape(
        cut=walker.cut,
        limit=walker.limit,
        depth=walker.depth,
        parts=walker.parts,
        multiparts=walker.multiparts,
        unterminated="multipart_unterminated" in warnings or "multipart_boundary_missing" in warnings,
        unseparated=walker.unseparated,
        qp_ambiguous=qp.ambiguous,
        lines=raw.count(b"\n", start, end) + raw.count(b"\r", start, end) - raw.count(b"\r\n", start, end),
    )


def fallback_cost(shape: Shape) -> int:
    """The stdlib parser's work on a message of this shape, in units of `FALLBACK_BUDGET`."""
    return shape.lines * (10 + shape.depth) + shape.multiparts * FALLBACK_MULTIPART_COST
