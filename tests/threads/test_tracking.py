"""Tracking addresses: keyed tokens that verify for their tenant and case only, key rotation, the development key."""

from __future__ import annotations

import pytest

from pipelines.threads.tracking import (
    DEVELOPMENT_TRACKING_KEY,
    is_tracking_address,
    tracking_address,
    tracking_token,
    verify_tracking_address,
)

INBOUND = "caminos@ses.omnibrein.com"


def test_an_address_made_for_a_case_verifies_for_that_tenant_and_names_the_case():
    address = tracking_address("caminos", 12, INBOUND, secret="s3cret")
    local, _, domain = address.partition("@")
    assert domain == "ses.omnibrein.com" and local.startswith("caminos+case-12-") and len(local) == 8 + 8 + 16
    assert is_tracking_address(address)
    assert verify_tracking_address(address, "caminos", secret="s3cret") == "12"
    assert verify_tracking_address(address.upper(), "caminos", secret="s3cret") == "12"
    bare = f"{tracking_token('caminos', 'AB-7', secret='s3cret')}@ses.omnibrein.com"
    assert verify_tracking_address(bare, "caminos", secret="s3cret") == "ab-7"


@pytest.mark.parametrize(
    "address",
    [
        "caminos+case-12@ses.omnibrein.com",  # the old sequential form: guessable
        "case-12@ses.omnibrein.com",
        "caminos+case-12-aaaaaaaaaaaaaaaa@ses.omnibrein.com",  # a forged token
        "caminos+case-13-{mac}@ses.omnibrein.com",  # case 12's token on case 13
        "caminos+case-12-{mac_short}@ses.omnibrein.com",  # a truncated token
        "caminos@ses.omnibrein.com",
        "",
    ],
)
def test_guessed_forged_and_altered_addresses_do_not_verify(address):
    mac = tracking_token("caminos", 12, secret="s3cret").rpartition("-")[2]
    address = address.format(mac=mac, mac_short=mac[:-1])
    assert verify_tracking_address(address, "caminos", secret="s3cret") is None


def test_a_token_is_bound_to_its_tenant_and_its_key():
    address = tracking_address("caminos", 12, INBOUND, secret="s3cret")
    assert verify_tracking_address(address, "padaria", secret="s3cret") is None
    assert verify_tracking_address(address, "caminos", secret="other") is None
    assert verify_tracking_address(address, "caminos", secret="") is None
    assert tracking_token("caminos", 12, secret="s3cret") != tracking_token("padaria", 12, secret="s3cret")


def test_rotation_makes_with_the_first_key_and_verifies_with_every_one():
    old = tracking_address("caminos", 12, INBOUND, secret="old")
    assert tracking_address("caminos", 12, INBOUND, secret="new, old") == tracking_address(
        "caminos", 12, INBOUND, secret="new"
    )
    assert verify_tracking_address(old, "caminos", secret="new, old") == "12"
    assert verify_tracking_address(old, "caminos", secret="new") is None


def test_without_a_secret_the_development_key_is_used():
    assert tracking_address("caminos", 12, INBOUND, secret="") == tracking_address(
        "caminos", 12, INBOUND, secret=DEVELOPMENT_TRACKING_KEY
    )
    assert tracking_address("caminos", 12, INBOUND, secret=" , ") == tracking_address("caminos", 12, INBOUND, secret="")


@pytest.mark.parametrize(
    "case_id, inbound",
    [
        ("", INBOUND),
        ("a b", INBOUND),
        ("x--y", INBOUND),
        ("-12", INBOUND),
        ("a" * 37, INBOUND),
        (12, "not-an-address"),
        (12, "caminos+x@ses.omnibrein.com"),
        ("a" * 36, "a-very-long-inbound-mailbox@ses.omnibrein.com"),  # local part over 64 characters
    ],
)
def test_unusable_case_ids_and_inbound_addresses_are_refused(case_id, inbound):
    with pytest.raises(ValueError):
        tracking_address("caminos", case_id, inbound, secret="s3cret")
