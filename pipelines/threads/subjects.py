"""Subjects: every reply and forward marker in one place, the normalized subject a conversation keeps, and
the `Re:` subject of an answer."""

from __future__ import annotations

import re
import unicodedata

REPLY_PREFIXES = (
    "re", "fw", "fwd", "rv", "aw", "wg", "sv", "vs", "tr", "antw", "enc", "res", "r", "ref", "odp",
    "rif", "doorst", "vl", "fs", "ynt", "atb", "πρθ", "απ", "на", "回复", "答复", "转发",
)  # fmt: skip
"""Markers mail clients put before a subject, in the languages our tenants' customers write."""

_PREFIX_RE = re.compile(
    r"^\s*(?:\[[^\]]{0,64}\]\s*)*(?:(?:"
    + "|".join(sorted(map(re.escape, REPLY_PREFIXES), key=len, reverse=True))
    + r")\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)",
    re.IGNORECASE,
)
_TAG_RE = re.compile(r"^\s*\[[^\]]{0,64}\]\s*")
_SPACE_RE = re.compile(r"\s+")


def normalize_subject(subject: str | None) -> str:
    """Lower-cased subject without repeated reply/forward prefixes, `[tags]` or extra spaces.

    'RE: [Ticket #12] RV: Fwd:  Factura  de Octubre' → 'factura de octubre'.
    """
    if not subject:
        return ""
    text = unicodedata.normalize("NFC", subject)
    while True:
        stripped = _PREFIX_RE.sub("", text, count=1)
        stripped = _TAG_RE.sub("", stripped, count=1)
        if stripped == text:
            break
        text = stripped
    return _SPACE_RE.sub(" ", text).strip().casefold()


_MARKED = re.compile(
    r"^\s*(?:\[[^\]]{0,64}\]\s*)*(?:" + "|".join(sorted(map(re.escape, REPLY_PREFIXES), key=len, reverse=True)) + r")"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]",
    re.IGNORECASE,
)
_REPLY_MARKERS = (
    "re", "aw", "sv", "vs", "antw", "res", "r", "ref", "odp", "rif", "ynt", "atb", "πρθ", "απ", "на", "回复", "答复",
)  # fmt: skip
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:" + "|".join(sorted(map(re.escape, _REPLY_MARKERS), key=len, reverse=True)) + r")"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)


def subject_has_marker(subject: str | None) -> bool:
    """`RE: x`, `[list] AW: x`, `Fwd: x`, `回复：x`: the subject says the mail answers or passes on another."""
    return bool(subject and _MARKED.match(subject))


def strip_reply_markers(subject: str | None) -> str:
    """The subject without its leading, possibly stacked, reply markers (`RE: AW: x` -> `x`); forward
    markers and tags stay."""
    return _REPLY_PREFIX.sub("", subject or "").strip()


def reply_subject(subject: str | None) -> str:
    """`Re: ` + the subject without stacked reply markers in any language (`RE: AW: x` -> `Re: x`)."""
    rest = strip_reply_markers(subject)
    return f"Re: {rest}" if rest else "Re:"
