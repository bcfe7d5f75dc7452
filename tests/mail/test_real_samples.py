"""Real SES mail and Received notifications (read from ../shared, never copied into the project)
go through the same ingest as the generated archive: each one parses into `messages` or lands in
`quarantine` with a reason a person would agree with."""

from __future__ import annotations

import shutil

import pytest

from pipelines.handoff.notifications import parse_received_notification
from pipelines.mail.ingest import ingest_mime
from pipelines.mime.parse import parse_message
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore
from pipelines.storage.schemas import INBOUND
from pipelines.tenants import parse_registry
from tests.conftest import REAL_SES
from tests.handoff.test_notifications import received_samples

REGISTRY = parse_registry(
    """
tenants:
  - id: relay
    name: Relay test mailbox
    inbound_addresses: [ebsbdsan7@test.com]
    public_addresses: []
    sending_domains: []
    configuration_sets: []
"""
)

EMAILS = sorted(REAL_SES.glob("*.email"))


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    bucket = tmp_path_factory.mktemp("bucket")
    (bucket / "inbound").mkdir()
    for path in EMAILS:
        shutil.copy(path, bucket / "inbound" / path.stem)
    lake = Lake(LocalStore(tmp_path_factory.mktemp("lake")))
    result = ingest_mime(LocalStore(bucket), lake, REGISTRY, INBOUND, "inbound/", None, workers=1)
    messages = {row["object_key"].removeprefix("inbound/"): row for row in lake.read_table("messages").to_pylist()}
    return result, messages, lake


def test_every_real_mail_is_accounted_for(ingested):
    result, messages, lake = ingested
    assert result.objects == len(EMAILS) == result.messages + result.quarantined
    assert result.quarantined == 0, lake.read_table("quarantine").to_pylist()
    assert {row["tenant_id"] for row in messages.values()} == {"relay"}


@pytest.mark.parametrize(
    ("sample", "subject", "from_address", "from_name"),
    [
        ("emperor_norton_incoming", "Declaration and Meeting of the Union", "norton@sf.us.example.com",
         "Norton I., Emperor of the United States"),
        ("nested_brackets_service_incoming", "Welcome to our service!", "hello@theservice.example.com", None),
        ("encoded_trailing_newline_incoming", "An encoded newline", "newline@trouble.example.com", "New Line Trouble"),
        ("message_id_in_brackets_incoming", "Message-ID in brackets", "user@clownshoes.example.com",
         "A concerned user"),
        ("duplicate_mime_version_incoming", "Duplicate MIME-Version Email", "root@server.example.com", "A server"),
    ],
)  # fmt: skip
def test_real_headers_decode_as_a_person_reads_them(ingested, sample, subject, from_address, from_name):
    row = ingested[1][sample]
    assert row["subject"] == subject
    assert row["from_address"] == from_address
    if from_name is not None:
        assert row["from_name"] == from_name


def test_real_bodies_and_attachments(ingested):
    messages = ingested[1]
    uber = messages["uber_otp_only_html_incoming"]
    assert uber["body_from_html"] and uber["has_html"] and "Uber" in uber["text_body"]
    inline = messages["inline_image_incoming"]
    assert inline["attachment_count"] == 1
    spam = messages["russian_spam_incoming"]
    assert any("\u0400" <= ch <= "\u04ff" for ch in spam["subject"] + spam["from_name"])
    assert all(row["text_body"] for row in messages.values())


def test_notification_contents_parse_and_attribute_by_receipt_recipients():
    checked = 0
    for path in received_samples():
        notification = parse_received_notification(path.read_bytes())
        if notification.content is None:
            continue
        message = parse_message(notification.content)
        assert message.subject or message.from_, path.name
        registry = parse_registry(
            "tenants:\n  - id: t\n    name: T\n    inbound_addresses: [" + notification.recipients[0] + "]\n"
        )
        attribution = registry.attribute_inbound(message, notification.recipients)
        assert (attribution.tenant_id, attribution.by) == ("t", "notification")
        checked += 1
    assert checked >= 3
