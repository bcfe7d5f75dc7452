"""Content-Transfer-Encoding: lenient base64 and quoted-printable decoding of a whole part body.

The fallback walker decodes with these (fast-mail-parser decodes the fast path the same way); RFC 2047
``B`` words and the streaming walker's incremental base64 decoder share the base64 pieces.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable

B64_WHITESPACE = b" \t\r\n\x0b\x0c"
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
NOT_B64 = bytes(b for b in range(256) if b not in _B64_ALPHABET)


def b64decode(data: bytes) -> tuple[bytes, bool]:
    """Base64 -> (bytes, clean). Damaged input decodes what it can: stray characters dropped,
    padding repaired, a dangling last character ignored."""
    data = data.translate(None, B64_WHITESPACE)
    letters = data.translate(None, NOT_B64)
    if len(letters) == len(data):
        return b64_tail(letters), len(letters) % 4 == 0
    pads = data.count(b"=")
    damaged = len(letters) + pads != len(data) or b"=" in data.rstrip(b"=")
    return b64_tail(letters), b64_clean(len(letters), pads, damaged)


def b64_clean(letters: int, pads: int, damaged: bool) -> bool:
    """Clean base64: only the alphabet, then at most two '=' that complete the last group."""
    if damaged:
        return False
    return letters % 4 == 0 if pads == 0 else pads <= 2 and letters % 4 == 4 - pads


def b64_tail(alphabet_only: bytes) -> bytes:
    """Decode base64 without padding: 2 or 3 trailing characters are padded, 1 is dropped."""
    extra = len(alphabet_only) % 4
    if extra == 1:
        alphabet_only = alphabet_only[:-1]
    elif extra:
        alphabet_only += b"=" * (4 - extra)
    return binascii.a2b_base64(alphabet_only)


_QP_PIECE_MAX = 64 * 1024
"""Bytes of an unfinished line a `QuotedPrintable` decoder holds before decoding its safe start."""


class QuotedPrintable:
    """Incremental quoted-printable decoding, as fast-mail-parser decodes it: trailing spaces of a line
    dropped, soft breaks joined, hard line breaks written as CRLF (the canonical form).

    `feed` takes the body in pieces cut anywhere and `close` ends it; the output does not depend on where
    the pieces were cut. Work and memory are linear in the input, an endless line included."""

    __slots__ = ("line", "out", "pending_break", "text_end")

    def __init__(self, out: Callable[[bytes], object]) -> None:
        self.out = out
        self.line = bytearray()
        """The unfinished last line."""
        self.text_end = 0
        """Length of `line` without its trailing blanks and CRs (dropped if the line ends after them)."""
        self.pending_break = False
        """A hard line break whose CRLF is written when more text follows."""

    def feed(self, data: bytes) -> None:
        last = data.rfind(b"\n")
        if last < 0:
            start = len(self.line)
            self.line += data
            text = len(data.rstrip(b" \t\r"))
            if text:
                self.text_end = start + text
            if len(self.line) > _QP_PIECE_MAX:
                self._decode_safe_start()
            return
        lines = bytes(self.line) + data[:last] if self.line else data[:last]
        self.line = bytearray(data[last + 1 :])
        self.text_end = len(self.line.rstrip(b" \t\r"))
        out = self.out
        for line in lines.split(b"\n"):
            if self.pending_break:
                out(b"\r\n")
            if line.endswith(b"\r"):
                line = line[:-1]
            line = line.rstrip(b" \t")
            if line.endswith(b"="):
                out(binascii.a2b_qp(line[:-1]))
                self.pending_break = False
            else:
                out(binascii.a2b_qp(line))
                self.pending_break = True

    def _decode_safe_start(self) -> None:
        """Decode the start of an over-long unfinished line: all but its trailing blanks (dropped if the
        line ends after them) and a trailing '=' or '=X' (a soft break or an escape cut in two)."""
        keep = self.text_end
        escape = self.line.rfind(b"=", max(0, keep - 2), keep)
        if escape >= 0:
            keep = escape
        if keep:
            if self.pending_break:
                self.out(b"\r\n")
                self.pending_break = False
            self.out(binascii.a2b_qp(bytes(self.line[:keep])))
            del self.line[:keep]
            self.text_end -= keep

    def close(self, drop_eol: bool = False) -> None:
        """End the body; `drop_eol`: its last line break belongs to a boundary and is not text."""
        line = bytes(self.line)
        self.line = bytearray()
        self.text_end = 0
        if line:
            if self.pending_break:
                self.out(b"\r\n")
            eol = line.endswith(b"\r")  # a body cut between CR and LF
            line = (line[:-1] if eol else line).rstrip(b" \t")
            if line.endswith(b"="):
                self.out(binascii.a2b_qp(line[:-1]))
                self.pending_break = False
            else:
                self.out(binascii.a2b_qp(line))
                self.pending_break = eol
        if self.pending_break and not drop_eol:
            self.out(b"\r\n")
        self.pending_break = False


def _qp_decode(data: bytes) -> bytes:
    """A whole quoted-printable body."""
    out: list[bytes] = []
    decoder = QuotedPrintable(out.append)
    decoder.feed(data)
    decoder.close()
    return b"".join(out)


def transfer_decode(data: bytes, encoding: str) -> tuple[bytes, bool]:
    """Decode a part's body; the flag is False when its base64 was damaged."""
    if encoding == "base64":
        return b64decode(data)
    if encoding == "quoted-printable":
        return _qp_decode(data), True
    return data, True
