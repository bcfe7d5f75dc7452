"""Tracking addresses: the case address our answers set as Reply-To, with an unguessable, keyed token.

A tracking address names one support case of one tenant: `<inbound local part>+case-<case id>-<mac>@<inbound
domain>` (or the bare `case-<case id>-<mac>@<domain>`), where `<mac>` is the first 80 bits of an HMAC-SHA256,
keyed with the tracking secret, over the tenant id and the case id, written as 16 lower-case base32 letters.
Nobody without the secret can make a valid address for a case, so a stranger can neither guess another
customer's case address nor forge one; threading honours a tracking address only when its token verifies
for the message's tenant (`verify_tracking_address`), and ignores any other.

The secret is `Settings.tracking_secret` (SESLAKE_TRACKING_SECRET). Several comma-separated keys rotate it:
the first makes new addresses, every one of them verifies (customers answer old mail for months). When it is
empty the public `DEVELOPMENT_TRACKING_KEY` is used: fine for the demo and tests, worthless in production,
where SESLAKE_TRACKING_SECRET must be set.

Case ids are case-insensitive (written lower-case): letters and digits, single `-` or `_` between them, at
most 36 characters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

DEVELOPMENT_TRACKING_KEY = "seslake-development-tracking-key"
"""The key used when no tracking secret is configured. It is public (it is right here), so anyone can make
valid tracking addresses with it: production must set SESLAKE_TRACKING_SECRET."""
MAC_BYTES = 10
"""80 bits of HMAC-SHA256 (16 base32 letters): far beyond guessing by sending mail."""
CASE_ID_MAX = 36
LOCAL_PART_MAX = 64
"""RFC 5321's limit on the local part of an address."""

_DOMAIN = b"seslake tracking address v1"
_MAC_LETTERS = MAC_BYTES * 8 // 5
_CASE_ID = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
_TRACKING = re.compile(r"^(?:[^@\s+]+\+)?case-[a-z0-9][a-z0-9._-]*@[^@\s]+\.[^@\s]+$", re.IGNORECASE)
_KEYED = re.compile(
    rf"^(?:[^@\s+]+\+)?case-(?P<case>[a-z0-9]+(?:[-_][a-z0-9]+)*)-(?P<mac>[a-z2-7]{{{_MAC_LETTERS}}})@[^@\s]+\.[^@\s]+$"
)


def is_tracking_address(address: str) -> bool:
    """`case-<token>@host` or `<mailbox>+case-<token>@host`: an address shaped like a case address (keyed
    or not, valid or not). Such addresses are never counted as a customer's address."""
    return bool(_TRACKING.match(address))


def tracking_token(tenant_id: str, case_id: str | int, *, secret: str) -> str:
    """`case-<case id>-<mac>`: the local part of a bare tracking address, and the plus-tag of the usual one.
    Raises ValueError for a case id that cannot be written in an address."""
    case = _case_id(case_id)
    return f"case-{case}-{_mac(_keys(secret)[0], tenant_id, case)}"


def tracking_address(tenant_id: str, case_id: str | int, inbound_address: str, *, secret: str) -> str:
    """The tracking address of a tenant's case on one of its inbound addresses: `<local>+case-<id>-<mac>@<domain>`.

    What the reply service sets as Reply-To on its answers (it knows the tenant, the case and the tenant's
    inbound address), so that a customer's new mail to it joins the case. Raises ValueError when the case id
    is not usable or the local part would exceed 64 characters."""
    local, at, domain = inbound_address.strip().lower().rpartition("@")
    if not at or not local or not domain or "+" in local:
        raise ValueError(f"not an inbound address: {inbound_address!r}")
    address_local = f"{local}+{tracking_token(tenant_id, case_id, secret=secret)}"
    if len(address_local) > LOCAL_PART_MAX:
        raise ValueError(f"tracking address local part longer than {LOCAL_PART_MAX}: {address_local!r}")
    return f"{address_local}@{domain}"


def verify_tracking_address(address: str, tenant_id: str, *, secret: str) -> str | None:
    """The case id a tracking address names, when its token verifies for the tenant with one of the keys of
    `secret` (compared in constant time); None for anything else: an old unkeyed `case-12`, a forged or
    altered token, another tenant's address, or not a tracking address at all."""
    match = _KEYED.match(address.strip().lower())
    if match is None:
        return None
    case, given = match.group("case"), match.group("mac")
    if len(case) > CASE_ID_MAX:
        return None
    valid = False
    for key in _keys(secret):
        valid |= hmac.compare_digest(_mac(key, tenant_id, case), given)
    return case if valid else None


def _case_id(case_id: str | int) -> str:
    case = str(case_id).strip().lower()
    if len(case) > CASE_ID_MAX or not _CASE_ID.match(case):
        raise ValueError(
            f"case id {case_id!r}: letters and digits with single '-' or '_' between them, at most {CASE_ID_MAX}"
        )
    return case


def _keys(secret: str) -> list[bytes]:
    """The keys of a (comma-separated) secret, the first making new tokens; the development key when empty."""
    keys = [key.strip() for key in secret.split(",") if key.strip()]
    return [key.encode("utf-8") for key in keys or [DEVELOPMENT_TRACKING_KEY]]


def _mac(key: bytes, tenant_id: str, case: str) -> str:
    message = b"\x1f".join((_DOMAIN, tenant_id.encode("utf-8", "surrogatepass"), case.encode("ascii")))
    digest = hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.b32encode(digest).decode("ascii").lower()
