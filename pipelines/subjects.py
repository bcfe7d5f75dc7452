"""Subject normalization: the subject a conversation keeps once reply/forward markers are gone."""

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
