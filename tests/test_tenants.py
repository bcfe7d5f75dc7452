"""The tenant registry fails fast on bad entries and attributes mail in the documented order."""

from __future__ import annotations

import pytest

from pipelines.mime.message import Address, ParsedMessage, SesReceipt
from pipelines.tenants import TenantRegistryError, canonical_address, parse_message_tags, parse_registry

REGISTRY = """
tenants:
  - id: caminos
    name: Caminos de las Sierras
    inbound_addresses: [caminos@ses.omnibrein.com]
    public_addresses: [info@caminosdelassierras.com.ar]
    sending_domains: [caminosdelassierras.com.ar]
    configuration_sets: [caminos-outbound]
    timezone: America/Argentina/Cordoba
    first_response_sla: 4h
    plan: premium
  - id: padaria
    name: Padaria Pão Quente
    inbound_addresses: [padaria@ses.omnibrein.com]
    public_addresses: [contato@paoquente.com.br]
    sending_domains: [paoquente.com.br]
    configuration_sets: [padaria-outbound]
"""


def message(**overrides) -> ParsedMessage:
    fields = dict(
        message_id="m1@x", in_reply_to=None, references=None, reference_ids=[], subject="hola",
        from_=Address("cliente@gmail.com", "Cliente"), sender=None, reply_to=[], to=[], cc=[], bcc=[],
        date=None, date_raw=None, ses=SesReceipt(), forwarded_to=[], headers={}, text_body="",
        body_from_html=False, has_html=False, attachments=[], size_bytes=100, parser="fast", warnings=[],
    )  # fmt: skip
    fields.update(overrides)
    return ParsedMessage(**fields)


@pytest.fixture
def registry():
    return parse_registry(REGISTRY)


def test_registry_loads_known_and_extra_keys(registry):
    assert set(registry.tenants) == {"caminos", "padaria"}
    caminos, padaria = registry.tenants["caminos"], registry.tenants["padaria"]
    assert caminos.extra == {"plan": "premium"}
    assert (caminos.timezone, caminos.first_response_sla_seconds) == ("America/Argentina/Cordoba", 4 * 3600)
    assert (padaria.timezone, padaria.first_response_sla_seconds) == ("UTC", 24 * 3600)
    assert registry.inbound_domains == {"ses.omnibrein.com"}


@pytest.mark.parametrize(("value", "seconds"), [("8", 8 * 3600), ("1.5", 5400), ("30m", 1800), ("2d", 172800)])
def test_first_response_sla_is_hours_or_a_duration(value, seconds):
    document = f"tenants:\n  - id: a\n    name: A\n    inbound_addresses: [a@b.com]\n    first_response_sla: {value}"
    assert parse_registry(document).tenants["a"].first_response_sla_seconds == seconds


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("tenants: {}", "top-level 'tenants:' list"),
        ("nope: []", "top-level 'tenants:' list"),
        ("tenants: [", "not valid YAML"),
        ("tenants: []", "is empty"),
        ("tenants:\n  - id: Bad Id\n    name: x\n    inbound_addresses: [a@b.com]", "tenant #1: 'id' must be"),
        ("tenants:\n  - id: a\n    inbound_addresses: [a@b.com]", "tenant #1 (a): 'name' is missing"),
        ("tenants:\n  - id: a\n    name: A\n    inbound_addresses: a@b.com", "(a): 'inbound_addresses' must be a list"),
        (
            "tenants:\n  - id: a\n    name: A\n    inbound_addresses: [not-an-address]",
            "invalid address 'not-an-address'",
        ),
        ("tenants:\n  - id: a\n    name: A\n    inbound_addresses: []", "at least one address"),
        (
            "tenants:\n  - id: a\n    name: A\n    inbound_addresses: [a@b.com]\n"
            "  - id: a\n    name: B\n    inbound_addresses: [c@b.com]",
            "tenant #2 (a): duplicate id",
        ),
        (
            "tenants:\n  - id: a\n    name: A\n    inbound_addresses: [a@b.com]\n"
            "  - id: b\n    name: B\n    inbound_addresses: [A@b.com]",
            "tenant #2 (b): inbound_addresses 'a@b.com' already belongs to tenant 'a'",
        ),
        ("tenants:\n  - just a string", "tenant #1: expected a mapping"),
        (
            "tenants:\n  - id: a\n    name: A\n    inbound_addresses: [a@b.com]\n    timezone: Mars/Olympus",
            "(a): 'timezone' must be an IANA zone",
        ),
        (
            "tenants:\n  - id: a\n    name: A\n    inbound_addresses: [a@b.com]\n    first_response_sla: soon",
            "(a): 'first_response_sla' must be hours",
        ),
        (
            "tenants:\n  - id: a\n    name: A\n    inbound_addresses: [a@b.com]\n    first_response_sla: 0",
            "(a): 'first_response_sla' must be hours",
        ),
    ],
)
def test_malformed_registry_names_entry_and_problem(document, expected):
    with pytest.raises(TenantRegistryError) as error:
        parse_registry(document, "tenants.yaml")
    assert expected in str(error.value)


def test_canonical_address_drops_plus_tag_and_case():
    assert canonical_address("Caminos+case-12@SES.omnibrein.com") == "caminos@ses.omnibrein.com"


def test_inbound_attribution_prefers_envelope_over_headers(registry):
    mail = message(
        ses=SesReceipt(envelope_recipients=["padaria@ses.omnibrein.com"]),
        to=[Address("info@caminosdelassierras.com.ar")],
    )
    attribution = registry.attribute_inbound(mail)
    assert (attribution.tenant_id, attribution.by) == ("padaria", "ses_envelope")


def test_inbound_attribution_notification_first(registry):
    mail = message(ses=SesReceipt(envelope_recipients=["padaria@ses.omnibrein.com"]))
    attribution = registry.attribute_inbound(mail, ["caminos@ses.omnibrein.com"])
    assert (attribution.tenant_id, attribution.by) == ("caminos", "notification")


@pytest.mark.parametrize(
    ("overrides", "by"),
    [
        ({"forwarded_to": ["caminos@ses.omnibrein.com"]}, "forwarded_to"),
        ({"cc": [Address("caminos+case-7@ses.omnibrein.com")]}, "inbound_address_header"),
        ({"to": [Address("info@caminosdelassierras.com.ar")]}, "public_address_header"),
    ],
)
def test_inbound_attribution_fallbacks(registry, overrides, by):
    attribution = registry.attribute_inbound(message(**overrides))
    assert (attribution.tenant_id, attribution.by) == ("caminos", by)


def test_unknown_addresses_are_unattributed(registry):
    mail = message(
        ses=SesReceipt(envelope_recipients=["nobody@ses.omnibrein.com"]), to=[Address("someone@elsewhere.com")]
    )
    assert registry.attribute_inbound(mail) is None


@pytest.mark.parametrize(
    ("headers", "from_", "archive", "expected"),
    [
        ({"x-ses-message-tags": "campaign=x, tenant=padaria"}, "info@caminosdelassierras.com.ar", None,
         ("padaria", "message_tag")),
        ({"x-ses-configuration-set": "Caminos-Outbound"}, "x@gmail.com", None, ("caminos", "configuration_set")),
        ({}, "soporte@PAOQUENTE.com.br", None, ("padaria", "from_domain")),
        ({"x-ses-message-tags": "tenant=unknown"}, "x@gmail.com", "caminos", ("caminos", "archive_path")),
        ({}, "x@gmail.com", None, None),
    ],
)  # fmt: skip
def test_outbound_attribution_order(registry, headers, from_, archive, expected):
    mail = message(headers=headers, from_=Address(from_.lower() if "@" in from_ else from_))
    attribution = registry.attribute_outbound(mail, archive)
    assert (attribution and (attribution.tenant_id, attribution.by)) == expected


def test_message_tags_parse():
    assert parse_message_tags("tenant=caminos, campaign = otoño,broken") == {"tenant": "caminos", "campaign": "otoño"}
