"""What names a message or a thread: SES ids in every region's form, Outlook's Thread-Index, address junk in
In-Reply-To, and the thread id itself. Small pure functions (case addresses are `pipelines.threads.tracking`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import Sequence
from datetime import datetime

SES_DOMAIN = "amazonses.com"
SES_REGION_DOMAINS = {
    "0100": "email.amazonses.com",
    "0101": "us-west-2.amazonses.com",
    "0102": "eu-west-1.amazonses.com",
}
"""Observed convention (not an AWS contract): the region's Message-ID domain by SES id prefix."""

_NOTHING: frozenset[str] = frozenset()
_BRACKETED = re.compile(r"<([^<>]*)>")
_OUTSIDE_IDS = re.compile(r"<[^<>]*>|\([^()]*\)")


def canonical_id(message_id: str) -> str:
    """The key an id links by: SES ids of any region collapse to `<sesId>@amazonses.com`."""
    if message_id.endswith(SES_DOMAIN):
        return message_id.partition("@")[0] + "@" + SES_DOMAIN
    return message_id


def ses_wire_id(ses_message_id: str, domain: str | None = None) -> str:
    """`<sesId>@<region domain>` as SES writes the Message-ID on the wire (bare)."""
    if domain is None:
        domain = SES_REGION_DOMAINS.get(ses_message_id[:4], "email.amazonses.com")
    return f"{ses_message_id}@{domain}"


def thread_index_guid(value: str | None) -> str | None:
    """The conversation GUID (hex) of an Outlook Thread-Index, or None when absent or unusable."""
    raw = _decode_thread_index(value, header_only=True)
    if raw is None:
        return None
    guid = raw[6:22]
    return None if guid == bytes(16) else guid.hex()


def _decode_thread_index(value: str | None, header_only: bool = False) -> bytes | None:
    if not value:
        return None
    text = "".join(value.split())
    if header_only and len(text) >= 32:
        text = text[:32]  # 24 bytes: the 22-byte header and the start of the first response level
    try:
        raw = binascii.a2b_base64(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if header_only:
        return raw if len(raw) >= 22 else None
    return raw if len(raw) >= 22 and (len(raw) - 22) % 5 == 0 else None


def child_thread_index(value: str | None, when: datetime, salt: str = "") -> str | None:
    """The Thread-Index of a reply to a message carrying `value`: its header and response levels plus
    one 5-byte level (delta code, 31-bit time delta from the header FILETIME, 4 random and 4 sequence
    bits, MS-OXOMSG 2.2.1.3), so Outlook files the answer in the same conversation."""
    raw = _decode_thread_index(value)
    if raw is None:
        return None
    header_filetime = int.from_bytes(raw[1:6], "big") << 24
    now = int((when.timestamp() + 11_644_473_600) * 10_000_000)
    delta = max(0, now - header_filetime)
    code, bits = (0, delta >> 18) if delta < (1 << 49) else (1, delta >> 23)
    level = (code << 39) | ((bits & 0x7FFFFFFF) << 8) | ((zlib.crc32(salt.encode()) & 0xF) << 4)
    level |= ((len(raw) - 22) // 5 + 1) & 0xF
    return base64.b64encode(raw + level.to_bytes(5, "big")).decode("ascii")


def junk_in_reply_to(in_reply_to: str | None, addresses: Sequence[str] = ()) -> frozenset[str]:
    """Tokens of an In-Reply-To that are addresses, not message ids (`addresses` lower-cased).

    A token equal to an address of the message itself is one; so is a token without a digit in its
    local part inside an old RFC 822 phrase (`Your message of "…" <joe@host>`) or written bare, since
    real ids practically always carry a number or a random part."""
    if not in_reply_to:
        return _NOTHING
    text = in_reply_to.strip()
    if text[:1] == "<" and text[-1:] == ">" and text.count("<") == 1:  # the usual `<id>`: no phrase
        token = "".join(text[1:-1].split())
        return frozenset((token,)) if token.lower() in addresses else _NOTHING
    tokens = ["".join(t.split()) for t in _BRACKETED.findall(text)]
    if not tokens and "@" in text and len(text.split()) == 1:
        tokens = [text]
    phrase = any(ch.isalpha() for ch in _OUTSIDE_IDS.sub("", text))
    return frozenset(
        token
        for token in tokens
        if token.lower() in addresses or (phrase and not any(ch.isdigit() for ch in token.partition("@")[0]))
    )


def thread_id_for(mailbox: str, first_key: str) -> str:
    """16 hex digits naming a thread: the mailbox and its first-arrived message's key."""
    return hashlib.blake2b(f"{mailbox}\x1f{first_key}".encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
