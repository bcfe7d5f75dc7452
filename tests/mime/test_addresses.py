"""Address headers, address normalizing and message ids."""

from __future__ import annotations

import pytest

from pipelines.mime.message import Address, ParsedMessage
from pipelines.mime.parse import extract_message_ids, normalize_address, parse_message
from tests.mime.messages import mail


def test_addresses_ids_forwarding_and_selected_headers(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["addresses_and_ids"]
    assert m.cc == [
        Address("Ana.Perez@example.com", "Pérez, Ana"),
        Address("jose@example.org", "José López"),
        Address("uno@example.com"),
        Address("dos@example.com", "Dos"),
        Address("tres@example.com", "Tres Apellido"),
    ]
    assert m.bcc == []
    assert m.reply_to == [Address("norton@sf.example", "Norton I., Emperor")]
    assert m.sender == Address("soporte@tenant.example", "Soporte")
    assert m.to == [Address("soporte@tenant.example")]
    assert m.in_reply_to == "<parent@example.com>"
    assert m.references == "<root@example.com> <parent@example.com>"
    assert m.reference_ids == ["root@example.com", "parent@example.com"]
    assert m.forwarded_to == [
        "Fwd@tenant.example",
        "other@tenant.example",
        "fwd@tenant.example",
        "orig@tenant.example",
        "last@tenant.example",
    ]
    assert m.headers == {
        "thread-index": "AdmABCDEF==",
        "x-ses-configuration-set": "outbound",
        "x-ses-message-tags": "tenant=42, campaign=oto",
        "x-ses-tenant": "tenant-42",
        "auto-submitted": "auto-replied",
        "list-id": "<news.example.com>",
        "x-mailer": "Microsoft Outlook 16.0",
        "content-language": "es-AR",
        "x-forwarded-for": "a@x.example b@y.example",
    }
    assert m.warnings == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ana <Ana.Perez@Example.COM>", "Ana.Perez@example.com"),
        ("  <X@Y.Z> ", "X@y.z"),
        ('"Pérez, Ana" <ana@EXAMPLE.com>', "ana@example.com"),
        ("bare@Example.Com", "bare@example.com"),
        ("not an address", ""),
    ],
)
def test_normalize_address(value: str, expected: str) -> None:
    assert normalize_address(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("<a@x> <b@y>\r\n\t<c@z>", ["a@x", "b@y", "c@z"]),
        ("Message from Ana of 1 Mar <a@x>", ["a@x"]),
        ("< spaced@x >", ["spaced@x"]),
        ("<[weird====@example.com]>", ["[weird====@example.com]"]),
        ("bare@x", ["bare@x"]),
        ("no ids here", []),
    ],
)
def test_extract_message_ids(value: str | None, expected: list[str]) -> None:
    assert extract_message_ids(value) == expected


def test_reference_ids_deduplicated_in_order() -> None:
    m = parse_message(mail("References: <a@x> <b@x> <a@x>\nIn-Reply-To: <b@x>"))
    assert m.reference_ids == ["a@x", "b@x"]


def test_addresses_with_junk() -> None:
    m = parse_message(mail("Cc: not an address, ana@example.com, <>, Bob <bob@>, carla@Example.com, dan@"))
    assert [a.address for a in m.cc] == ["ana@example.com", "carla@example.com"]
    assert m.warnings == ["address_unparseable"]
    assert parse_message(mail("Cc: <>, Ana <ana@example.com>")).warnings == []
