"""Bytes to text: MIME charset labels to Python codecs, lenient decoding, RFC 2047 encoded words."""

from __future__ import annotations

import binascii
import codecs
import functools
import re

from pipelines.mime.transfer import b64decode

_CHARSET_ALIASES = {
    # What mail clients mean by these labels (the WHATWG encoding standard's mapping).
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "unicode-1-1-utf-7": "utf-7",
}
_NOT_TEXT_CODECS = frozenset(
    # Byte-to-byte transforms, escape and domain-name codecs, and the codec that always fails: none of
    # them reads text in a charset, so a label naming one is treated as unknown.
    ("base64", "hex", "quopri", "uu", "zlib", "bz2", "rot-13", "base64_codec", "hex_codec")
    + ("quopri_codec", "uu_codec", "zlib_codec", "bz2_codec", "rot_13")
    + ("unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs", "oem")
)
_LABEL_MAX = 64
"""Longest charset label looked up (IANA names have at most 40 characters); longer ones are unknown."""
_SNIFF = "sniff"
"""Pseudo codec: UTF-8 if the bytes are valid UTF-8, else Windows-1252 (no or us-ascii label)."""


def _codec(label: str) -> str | None:
    """Python codec for a MIME charset label, `_SNIFF`, or None when unknown or not a text codec."""
    name = label.strip().strip("\"'").lower()
    if len(name) > _LABEL_MAX:
        return None
    return _known_codec(name)


@functools.lru_cache(maxsize=256)
def _known_codec(name: str) -> str | None:
    if not name or name in ("us-ascii", "ascii", "ansi_x3.4-1968", "646"):
        return _SNIFF
    try:
        info = codecs.lookup(_CHARSET_ALIASES.get(name, name))
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    if info.name in _NOT_TEXT_CODECS:
        return None
    return _SNIFF if info.name == "ascii" else info.name


def decode_bytes(data: bytes, charset: str | None, warnings: list[str]) -> str:
    """Decode with a declared charset; unknown ones (and codecs that are not text) give UTF-8 with
    replacement characters and a warning. The result is always valid UTF-8 text."""
    codec = _codec(charset) if charset else _SNIFF
    if codec == _SNIFF:
        return decode_8bit(data)
    if codec is not None:
        try:
            return valid_text(data.decode(codec, "replace"))
        except (UnicodeError, LookupError, ValueError, TypeError):  # a codec that fails on "replace"
            pass
    warnings.append("charset_unknown")
    return data.decode("utf-8", "replace")


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """`text` with lone surrogates (which no UTF-8 encoder accepts) replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def decode_8bit(data: bytes) -> str:
    """UTF-8 if the bytes are valid UTF-8, else Windows-1252 (undeclared 8-bit text)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


_WORD_START = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?")
"""The start of an RFC 2047 encoded word, `=?charset?B?`; the word runs to the next `?=`."""


def decode_words(value: str, warnings: list[str]) -> str:
    """Decode RFC 2047 encoded words; adjacent words of one charset are joined before decoding,
    so a character split across two words survives.

    Linear in the value: a word runs from its start to the next `?=`, and once no `?=` is left no later
    word can close, so the scan stops there (an unclosed word is kept as written)."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    pos = 0
    search = 0
    while (start := value.find("=?", search)) >= 0:
        head = _WORD_START.match(value, start)
        if head is None:
            search = start + 1
            continue
        end = value.find("?=", head.end())
        if end < 0:
            break
        gap = value[pos:start]
        charset = head.group(1).split("*", 1)[0]
        if gap and not (pending_charset and gap.isspace()):
            if pending_charset:
                out.append(decode_bytes(bytes(pending), pending_charset, warnings))
                pending.clear()
            out.append(gap)
            pending_charset = ""
        elif pending_charset and charset.lower() != pending_charset.lower():
            out.append(decode_bytes(bytes(pending), pending_charset, warnings))
            pending.clear()
        pending_charset = charset
        text = value[head.end() : end]
        if head.group(2) in "bB":
            pending += b64decode(text.encode("ascii", "ignore"))[0]
        else:
            pending += binascii.a2b_qp(text.encode("utf-8", "surrogatepass"), header=True)
        pos = search = end + 2
    if pending_charset:
        out.append(decode_bytes(bytes(pending), pending_charset, warnings))
    out.append(value[pos:])
    return "".join(out)
