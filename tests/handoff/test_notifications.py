"""Every Received notification sample (composed and real) parses; other payloads are refused clearly."""

from __future__ import annotations

import base64
import json

import pytest

from pipelines.handoff.notifications import NotificationError, parse_received_notification
from tests.conftest import COMPOSED_SES, REAL_SES


def received_samples() -> list:
    paths = [COMPOSED_SES / "received-notification.json", COMPOSED_SES / "sqs-body-sns-envelope-received.json"]
    for path in sorted(REAL_SES.glob("*.json")):
        document = json.loads(path.read_text())
        inner = json.loads(document["Message"]) if isinstance(document.get("Message"), str) else document
        if inner.get("notificationType") == "Received":
            paths.append(path)
    return paths


@pytest.mark.parametrize("path", received_samples(), ids=lambda p: p.name)
def test_received_notifications_parse(path):
    notification = parse_received_notification(path.read_bytes())
    assert notification.ses_message_id
    assert notification.recipients and all("@" in r for r in notification.recipients)
    assert notification.action_type in {"S3", "SNS"}
    if notification.action_type == "S3":
        assert notification.bucket and notification.object_key
    else:
        assert notification.content and b"\n" in notification.content


def test_s3_action_fields_from_real_sample():
    notification = parse_received_notification((REAL_SES / "s3_stored_email_sns_body.json").read_bytes())
    assert notification.object_key == "/emails/objectkey123"
    assert notification.bucket == "test-bucket"
    assert notification.recipients == ["sender@test.com"]
    assert notification.sns_message_id
    assert notification.verdicts["spam"] == "PASS"


def test_base64_content_is_decoded():
    document = json.loads((REAL_SES / "received_notification_action_example_ses_body.json").read_text())
    raw = document["content"].encode()
    document["content"] = base64.b64encode(raw).decode()
    document["receipt"]["action"]["encoding"] = "BASE64"
    assert parse_received_notification(json.dumps(document)).content == raw


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "not a JSON object"),
        ((REAL_SES / "hard_bounce_sns_body.json").read_bytes(), "not a Received notification"),
        (json.dumps({"notificationType": "Received", "mail": {}, "receipt": {}}).encode(), "without mail.messageId"),
    ],
)
def test_other_payloads_are_refused_with_reason(body, reason):
    with pytest.raises(NotificationError, match=reason):
        parse_received_notification(body)
