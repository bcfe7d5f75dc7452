"""Request signatures are Standard Webhooks: what verifies (with the `standardwebhooks` library too), what does
not, secrets in the `whsec_` format, and key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from pipelines.handoff.payload import payload_bytes
from pipelines.handoff.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    parse_secrets,
    secret_key,
    sign_headers,
    signature,
    verify,
)

BODY = '{"event_id":"e1","subject":"Re: Factura de octubre ñ"}'.encode()
NOW = 1_790_000_000
KEY = bytes(range(24))
WHSEC = "whsec_" + base64.b64encode(KEY).decode()


def test_scheme_is_the_specifications_hmac_of_id_timestamp_and_body() -> None:
    expected = base64.b64encode(hmac.new(KEY, b"e1.1790000000." + BODY, hashlib.sha256).digest()).decode()

    assert signature(WHSEC, "e1", NOW, BODY) == f"v1,{expected}"
    assert sign_headers(BODY, "e1", WHSEC, timestamp=NOW) == {
        ID_HEADER: "e1",
        TIMESTAMP_HEADER: "1790000000",
        SIGNATURE_HEADER: f"v1,{expected}",
    }


def test_whsec_secrets_are_base64_and_other_secrets_their_utf8_bytes() -> None:
    assert secret_key(WHSEC) == KEY
    assert secret_key(WHSEC.rstrip("=")) == KEY  # unpadded, as some providers print them
    assert secret_key("k3y") == b"k3y"
    with pytest.raises(ValueError, match="empty"):
        secret_key("whsec_")


def test_the_standardwebhooks_library_verifies_a_real_payload() -> None:
    payload = {"schema_version": 1, "event_id": "evt-1", "subject": "Consulta envío ✉", "text": "línea\r\n" * 3}
    body = payload_bytes(payload)
    headers = sign_headers(body, "evt-1", [WHSEC, "whsec_" + base64.b64encode(b"old key").decode()])

    assert Webhook(WHSEC).verify(body, headers) == json.loads(body)
    assert Webhook("whsec_" + base64.b64encode(b"old key").decode()).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"another").decode()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(WHSEC).verify(body.replace(b"evt-1", b"evt-2"), headers)


def test_a_plain_secret_verifies_with_the_library_given_its_bytes() -> None:
    headers = sign_headers(BODY, "e1", "k3y")

    assert Webhook(b"k3y").verify(BODY, headers, json_parse=False) is None


def test_what_the_library_signs_verifies_here() -> None:
    stamp = int(time.time())
    value = Webhook(WHSEC).sign("e1", datetime.fromtimestamp(stamp, UTC), BODY.decode())
    headers = {"Webhook-Id": "e1", "Webhook-Timestamp": str(stamp), "Webhook-Signature": value}

    assert verify(headers, BODY, WHSEC) is None


def test_tampered_body_swapped_id_or_timestamp_and_wrong_secret_fail() -> None:
    headers = sign_headers(BODY, "e1", "k3y", timestamp=NOW)

    assert verify(headers, BODY.replace(b"octubre", b"noviembre"), "k3y", now=NOW) == "signature_mismatch"
    assert verify({**headers, ID_HEADER: "e2"}, BODY, "k3y", now=NOW) == "signature_mismatch"
    assert verify({**headers, TIMESTAMP_HEADER: str(NOW + 1)}, BODY, "k3y", now=NOW) == "signature_mismatch"
    assert verify(headers, BODY, "other", now=NOW) == "signature_mismatch"


def test_stale_or_future_timestamp_fails() -> None:
    headers = sign_headers(BODY, "e1", "k3y", timestamp=NOW)

    assert verify(headers, BODY, "k3y", now=NOW + 300) is None  # at the edge of the window
    assert verify(headers, BODY, "k3y", now=NOW + 301) == "stale_timestamp"
    assert verify(headers, BODY, "k3y", now=NOW - 301) == "stale_timestamp"
    assert verify(headers, BODY, "k3y", now=NOW + 10, tolerance=5) == "stale_timestamp"


def test_malformed_requests_name_their_problem() -> None:
    headers = sign_headers(BODY, "e1", "k3y", timestamp=NOW)

    assert verify({}, BODY, "k3y", now=NOW) == "missing_headers"
    assert verify({k: v for k, v in headers.items() if k != SIGNATURE_HEADER}, BODY, "k3y", now=NOW) == (
        "missing_headers"
    )
    assert verify({**headers, TIMESTAMP_HEADER: "yesterday"}, BODY, "k3y", now=NOW) == "bad_timestamp"
    assert verify({**headers, SIGNATURE_HEADER: "v1a,abc"}, BODY, "k3y", now=NOW) == "no_v1_signature"
    assert verify(headers, b"\xff\xfe", "k3y", now=NOW) == "bad_body"
    assert verify(headers, BODY, "", now=NOW) == "no_secret"


def test_rotation_sender_signs_with_every_current_secret() -> None:
    headers = sign_headers(BODY, "e1", "new,old", timestamp=NOW)

    assert headers[SIGNATURE_HEADER].count("v1,") == 2 and " " in headers[SIGNATURE_HEADER]
    assert verify(headers, BODY, "old", now=NOW) is None  # receiver not yet switched
    assert verify(headers, BODY, "new", now=NOW) is None  # receiver already switched
    assert verify(headers, BODY, ["retired"], now=NOW) == "signature_mismatch"
    assert verify(sign_headers(BODY, "e1", "old", timestamp=NOW), BODY, ["new", "old"], now=NOW) is None


def test_secrets_setting_is_comma_separated() -> None:
    assert parse_secrets(" new , old,, ") == ["new", "old"]
    assert parse_secrets(["a", " ", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match="SESLAKE_REPLY_SECRET"):
        sign_headers(BODY, "e1", " , ")
