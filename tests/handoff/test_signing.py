"""Request signatures: what verifies, what does not, and key rotation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pipelines.handoff.signing import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    parse_secrets,
    sign_headers,
    signature,
    verify,
)

BODY = b'{"event_id":"e1","subject":"Re: Factura de octubre"}'
NOW = 1_790_000_000


def test_scheme_is_hmac_sha256_of_event_id_timestamp_and_body() -> None:
    expected = hmac.new(b"k3y", b"e1.1790000000." + BODY, hashlib.sha256).hexdigest()

    assert signature("k3y", "e1", NOW, BODY) == expected
    assert sign_headers(BODY, "e1", "k3y", timestamp=NOW) == {
        EVENT_ID_HEADER: "e1",
        TIMESTAMP_HEADER: "1790000000",
        SIGNATURE_HEADER: f"v1={expected}",
    }


def test_good_signature_verifies() -> None:
    headers = sign_headers(BODY, "e1", "k3y", timestamp=NOW)

    assert verify(headers, BODY, "k3y", now=NOW) is None
    assert verify(headers, BODY, "k3y", now=NOW + 300) is None  # at the edge of the window


def test_header_names_are_case_insensitive() -> None:
    headers = {k.lower(): v for k, v in sign_headers(BODY, "e1", "k3y", timestamp=NOW).items()}

    assert verify(headers, BODY, "k3y", now=NOW) is None


def test_tampered_body_fails() -> None:
    headers = sign_headers(BODY, "e1", "k3y", timestamp=NOW)

    assert verify(headers, BODY.replace(b"octubre", b"noviembre"), "k3y", now=NOW) == "signature_mismatch"


def test_swapped_event_id_or_timestamp_fails() -> None:
    headers = sign_headers(BODY, "e1", "k3y", timestamp=NOW)

    assert verify({**headers, EVENT_ID_HEADER: "e2"}, BODY, "k3y", now=NOW) == "signature_mismatch"
    assert verify({**headers, TIMESTAMP_HEADER: str(NOW + 1)}, BODY, "k3y", now=NOW) == "signature_mismatch"


def test_wrong_secret_fails() -> None:
    headers = sign_headers(BODY, "e1", "k3y", timestamp=NOW)

    assert verify(headers, BODY, "other", now=NOW) == "signature_mismatch"


def test_stale_or_future_timestamp_fails() -> None:
    headers = sign_headers(BODY, "e1", "k3y", timestamp=NOW)

    assert verify(headers, BODY, "k3y", now=NOW + 301) == "stale_timestamp"
    assert verify(headers, BODY, "k3y", now=NOW - 301) == "stale_timestamp"
    assert verify(headers, BODY, "k3y", now=NOW + 10, tolerance=5) == "stale_timestamp"


def test_malformed_requests_name_their_problem() -> None:
    headers = sign_headers(BODY, "e1", "k3y", timestamp=NOW)

    assert verify({}, BODY, "k3y", now=NOW) == "missing_headers"
    assert (
        verify({k: v for k, v in headers.items() if k != SIGNATURE_HEADER}, BODY, "k3y", now=NOW) == "missing_headers"
    )
    assert verify({**headers, TIMESTAMP_HEADER: "yesterday"}, BODY, "k3y", now=NOW) == "bad_timestamp"
    assert verify({**headers, SIGNATURE_HEADER: "v0=abc"}, BODY, "k3y", now=NOW) == "no_v1_signature"
    assert verify(headers, BODY, "", now=NOW) == "no_secret"


def test_rotation_sender_signs_with_every_current_secret() -> None:
    headers = sign_headers(BODY, "e1", "new,old", timestamp=NOW)

    assert headers[SIGNATURE_HEADER].count("v1=") == 2
    assert verify(headers, BODY, "old", now=NOW) is None  # receiver not yet switched
    assert verify(headers, BODY, "new", now=NOW) is None  # receiver already switched
    assert verify(headers, BODY, ["retired"], now=NOW) == "signature_mismatch"


def test_rotation_receiver_accepts_any_of_its_secrets() -> None:
    old_sender = sign_headers(BODY, "e1", "old", timestamp=NOW)

    assert verify(old_sender, BODY, ["new", "old"], now=NOW) is None
    assert verify(old_sender, BODY, ["new"], now=NOW) == "signature_mismatch"


def test_secrets_setting_is_comma_separated() -> None:
    assert parse_secrets(" new , old,, ") == ["new", "old"]
    assert parse_secrets(["a", " ", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match="SESLAKE_REPLY_SECRET"):
        sign_headers(BODY, "e1", " , ")
