"""What the Content-* headers of one MIME part say (`Part`): type and parameters (RFC 2231 values
included), file name, disposition, content id, transfer encoding, and which kind of part it is."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from pipelines.mime.charsets import decode_bytes, decode_words
from pipelines.mime.headers import unquote

PLAIN, HTML, ATTACHMENT, IGNORED = range(4)
"""Part kinds: a text/plain or text/html body candidate, an attachment, other inline text."""


_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)')


_PARAMETERS_READ = frozenset(("charset", "boundary", "name", "filename"))
"""The parameters `read_part` uses; the others are skipped unread (a header may hold thousands)."""


def _params(value: str) -> tuple[str, dict[str, str]]:
    """`token; name=1; filename*=utf-8''x%C3%B1` -> ('token', {...}): the parameters of
    `_PARAMETERS_READ`, RFC 2231 values decoded."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    if not rest:
        return main.strip().lower(), params
    extended: dict[str, list[tuple[int, bool, str]]] = {}
    for name, raw in _PARAM.findall(";" + rest):
        name = name.lower()
        if name.partition("*")[0] not in _PARAMETERS_READ:
            continue
        raw = raw.strip()
        if raw.startswith('"'):
            raw = unquote(raw)
        if "*" in name:
            base, _, section = name.partition("*")
            encoded = section.endswith("*") or section == ""
            number = section.rstrip("*")
            index = int(number) if number.isascii() and number.isdigit() and len(number) <= 6 else 0
            extended.setdefault(base, []).append((index, encoded, raw))
        else:
            params.setdefault(name, raw)
    for base, sections in extended.items():
        params[base] = _rfc2231(sorted(sections))
    return main.strip().lower(), params


def _rfc2231(sections: list[tuple[int, bool, str]]) -> str:
    charset = ""
    data = bytearray()
    for index, (_, encoded, value) in enumerate(sections):
        if encoded:
            if index == 0 and value.count("'") >= 2:
                charset, _, value = value.split("'", 2)
            data += _percent_decode(value)
        else:
            data += value.encode("utf-8")
    return decode_bytes(bytes(data), charset or None, [])


_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


def _percent_decode(value: str) -> bytes:
    return _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), value).encode("latin-1", "replace")


class Part(NamedTuple):
    """What the Content-* headers of one MIME part say, the same whichever parser split it.
    (A named tuple: cheap to build, and safe to share from the cache.)"""

    content_type: str
    charset: str | None
    boundary: str | None
    filename: str | None
    disposition: str | None
    content_id: str | None
    encoding: str
    kind: int
    """PLAIN or HTML (a body candidate), ATTACHMENT, or IGNORED (other inline text)."""

    def as_text(self) -> Part:
        """The part as text/plain: a multipart without usable boundaries is read as its text."""
        return Part("text/plain", self.charset, None, None, None, None, self.encoding, PLAIN)


_CACHED_VALUES_MAX = 1024
"""Characters of Content-* values read through the cache at most; longer ones are read each time, so the
cache never holds more than about a megabyte."""


def read_part(headers: dict[str, str], default_type: str, warnings: list[str]) -> Part:
    """Read a part's Content-* headers (`headers`: lower-case name -> first value, unfolded)."""
    values = (
        headers.get("content-type"),
        headers.get("content-disposition"),
        headers.get("content-id"),
        headers.get("content-transfer-encoding"),
    )
    if sum(len(value) for value in values if value) <= _CACHED_VALUES_MAX:
        part, part_warnings = _cached_part(*values, default_type)
    else:
        part, part_warnings = _read_part(*values, default_type)
    warnings.extend(part_warnings)
    return part


def _read_part(
    content_type: str | None,
    disposition_value: str | None,
    content_id: str | None,
    encoding: str | None,
    default_type: str,
) -> tuple[Part, tuple[str, ...]]:
    warnings: list[str] = []
    ctype, params = _params(content_type or "")
    if ctype.count("/") != 1 or " " in ctype:
        ctype = default_type
    disposition, dparams = _params(disposition_value) if disposition_value else (None, {})
    filename = dparams.get("filename") or params.get("name") or None
    if filename and "=?" in filename:
        filename = decode_words(filename, warnings)
    content_id = "".join(content_id.split()).strip("<>") or None if content_id else None
    if disposition not in (None, "inline", "attachment"):
        disposition = "attachment" if disposition else None  # RFC 2183: unknown means attachment
    if disposition is None and content_id:
        disposition = "inline"
    if ctype in ("text/plain", "text/html") and not filename and disposition != "attachment":
        kind = PLAIN if ctype == "text/plain" else HTML
    elif filename or disposition == "attachment" or not ctype.startswith("text/"):
        kind = ATTACHMENT
    else:
        kind = IGNORED
    part = Part(
        content_type=ctype,
        charset=params.get("charset"),
        boundary=(params.get("boundary") or "").rstrip() or None,  # as the stdlib reads it
        filename=filename,
        disposition=disposition,
        content_id=content_id,
        encoding=(encoding or "").strip().lower(),
        kind=kind,
    )
    return part, tuple(warnings)


_cached_part = functools.lru_cache(maxsize=1024)(_read_part)
"""Most parts repeat the same few header values, so their reading is cached."""
