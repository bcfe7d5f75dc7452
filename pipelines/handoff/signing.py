"""Signatures on hand-off requests, as the Standard Webhooks specification defines them, so the reply service
can verify with any Standard Webhooks library (Svix's, or `standardwebhooks` in many languages).

Three headers:

    webhook-id:        <event_id>             (the payload's event_id: the same on every retry)
    webhook-timestamp: <Unix seconds when the request was signed>
    webhook-signature: v1,<base64>[ v1,<base64>…]   (one signature per current secret, space-separated)

The signature is the base64 HMAC-SHA256 of `f"{webhook_id}.{timestamp}.{body}"`, keyed with the secret's
bytes: a `whsec_<base64>` secret (the specification's format) is the base64-decoded bytes; any other string
is used as its UTF-8 bytes (a receiver then passes those bytes to its library). The HMAC itself is computed by
`standardwebhooks.Webhook.sign`. A receiver refuses a timestamp more than `DEFAULT_TOLERANCE` seconds (5
minutes, the specification's) from its clock, which bounds replays; deduplicating on `webhook-id` covers
the rest.

Key rotation: `SESLAKE_REPLY_SECRET` may hold several secrets separated by commas (new first). The sender
signs with all of them and the receiver accepts any, so the two sides can switch secrets one at a time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

SCHEME = "v1"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300
"""Seconds a timestamp may differ from the receiver's clock, either way."""


def parse_secrets(value: str | Sequence[str]) -> list[str]:
    """Secrets from a comma-separated setting (or a list), blanks dropped, order kept."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [s.strip() for s in items if s and s.strip()]


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: a `whsec_` secret's decoded bytes, else the string's UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :] + "==", validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"a {SECRET_PREFIX} secret must be base64 after its prefix") from exc
        if key:
            return key
        raise ValueError(f"the {SECRET_PREFIX} secret is empty")
    return secret.encode("utf-8")


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of a request."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return Webhook(secret_key(secret)).sign(webhook_id, moment, body.decode("utf-8"))


def sign_headers(
    body: bytes, event_id: str, secrets: str | Sequence[str], timestamp: int | None = None
) -> dict[str, str]:
    """The three signature headers for a request, signed with every secret given."""
    keys = parse_secrets(secrets)
    if not keys:
        raise ValueError("no signing secret (set SESLAKE_REPLY_SECRET)")
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    values = " ".join(signature(key, event_id, stamp, body) for key in keys)
    return {ID_HEADER: event_id, TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: values}


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: str | Sequence[str],
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> str | None:
    """None when the request is authentic and fresh, otherwise the reason it is not: missing_headers,
    bad_timestamp, stale_timestamp, no_v1_signature, no_secret, bad_body or signature_mismatch.

    `headers` may be any mapping; names are matched case-insensitively.
    """
    webhook_id = header(headers, ID_HEADER)
    stamp = header(headers, TIMESTAMP_HEADER)
    sent = header(headers, SIGNATURE_HEADER)
    if not webhook_id or stamp is None or sent is None:
        return "missing_headers"
    try:
        timestamp = int(stamp.strip())
    except ValueError:
        return "bad_timestamp"
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return "stale_timestamp"
    offered = [value for value in sent.split() if value.startswith(f"{SCHEME},")]
    if not offered:
        return "no_v1_signature"
    keys = parse_secrets(secrets)
    if not keys:
        return "no_secret"
    try:
        expected = [signature(key, webhook_id, timestamp, body) for key in keys]
    except UnicodeDecodeError:
        return "bad_body"
    matched = False
    for mine in expected:
        for value in offered:
            # compare_digest on every pair (no early exit) keeps the timing independent of which matched
            matched |= hmac.compare_digest(mine.encode(), value.encode("ascii", "replace"))
    return None if matched else "signature_mismatch"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, its name matched case-insensitively."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)
