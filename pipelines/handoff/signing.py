"""HMAC-SHA256 signatures on hand-off requests, so the reply service can trust what it receives.

Scheme `v1`: the signature is the hex HMAC-SHA256, keyed with the shared secret (UTF-8), of

    f"{event_id}.{timestamp}.".encode() + body

where `body` is the exact request body and `timestamp` the Unix time in whole seconds when the request was
signed. Three headers carry it:

    X-Seslake-Event-Id:  <event_id>            (the payload's event_id)
    X-Seslake-Timestamp: <timestamp>
    X-Seslake-Signature: v1=<hex>[,v1=<hex>…]  (one value per current secret)

Signing the event id and the timestamp with the body means neither can be swapped onto another body. A
receiver recomputes the HMAC for each secret it accepts, compares in constant time against every `v1=`
value, and refuses a timestamp more than `DEFAULT_TOLERANCE` seconds (5 minutes) from its clock, which
bounds replays of a captured request; deduplicating on the event id covers the rest.

Key rotation: `SESLAKE_REPLY_SECRET` may hold several secrets separated by commas (new first). The sender
signs with all of them and the receiver accepts any, so the two sides can switch secrets one at a time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

SCHEME = "v1"
EVENT_ID_HEADER = "X-Seslake-Event-Id"
TIMESTAMP_HEADER = "X-Seslake-Timestamp"
SIGNATURE_HEADER = "X-Seslake-Signature"
DEFAULT_TOLERANCE = 300
"""Seconds a timestamp may differ from the receiver's clock, either way."""


def parse_secrets(value: str | Sequence[str]) -> list[str]:
    """Secrets from a comma-separated setting (or a list), blanks dropped, order kept."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [s.strip() for s in items if s and s.strip()]


def signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The hex v1 signature of one request."""
    message = f"{event_id}.{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign_headers(
    body: bytes, event_id: str, secrets: str | Sequence[str], timestamp: int | None = None
) -> dict[str, str]:
    """The three signature headers for a request, signed with every secret given."""
    keys = parse_secrets(secrets)
    if not keys:
        raise ValueError("no signing secret (set SESLAKE_REPLY_SECRET)")
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    values = ",".join(f"{SCHEME}={signature(key, event_id, stamp, body)}" for key in keys)
    return {EVENT_ID_HEADER: event_id, TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: values}


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: str | Sequence[str],
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> str | None:
    """None when the request is authentic and fresh, otherwise the reason it is not: missing_headers,
    bad_timestamp, stale_timestamp, no_v1_signature, no_secret or signature_mismatch.

    `headers` may be any mapping; names are matched case-insensitively.
    """
    event_id = _header(headers, EVENT_ID_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    sent = _header(headers, SIGNATURE_HEADER)
    if event_id is None or stamp is None or sent is None:
        return "missing_headers"
    try:
        timestamp = int(stamp.strip())
    except ValueError:
        return "bad_timestamp"
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return "stale_timestamp"
    offered = [v.strip()[len(SCHEME) + 1 :] for v in sent.split(",") if v.strip().startswith(f"{SCHEME}=")]
    if not offered:
        return "no_v1_signature"
    keys = parse_secrets(secrets)
    if not keys:
        return "no_secret"
    matched = False
    for key in keys:
        expected = signature(key, event_id, timestamp, body)
        for value in offered:
            # compare_digest on every pair (no early exit) keeps the timing independent of which matched
            matched |= hmac.compare_digest(expected.encode(), value.encode("ascii", "replace"))
    return None if matched else "signature_mismatch"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)
