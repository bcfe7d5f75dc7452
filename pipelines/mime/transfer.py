"""Content-Transfer-Encoding: lenient base64 and quoted-printable decoding of a whole part body.

The fallback walker decodes with these (fast-mail-parser decodes the fast path the same way); RFC 2047
``B`` words and the streaming walker's incremental base64 decoder share the base64 pieces.
"""

from __future__ import annotations

import binascii
import re

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


def transfer_decode(data: bytes, encoding: str) -> tuple[bytes, bool]:
    """Decode a part's body; the flag is False when its base64 was damaged."""
    if encoding == "base64":
        return b64decode(data)
    if encoding == "quoted-printable":
        return _qp_decode(data), True
    return data, True
