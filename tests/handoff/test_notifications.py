"""Every Received notification sample (composed and real) parses; other payloads are refused clearly."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.handoff.notifications import NotificationError, parse_received_notification
from tests.conftest import COMPOSED_SES, REAL_SES, fuzz_settings


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


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def _notification(kind: object, mail: object, receipt: object, content: object) -> str:
    """An SNS envelope around a Received-shaped notification whose fields hold the given values."""
    inner = {"notificationType": kind, "mail": mail, "receipt": receipt, "content": content}
    return json.dumps({"Type": "Notification", "MessageId": "m", "Message": json.dumps(inner)})


SHAPED = st.builds(
    _notification,
    kind=st.sampled_from(["Received", None, 3, "Bounce"]),
    mail=JSON_VALUES | st.fixed_dictionaries({"messageId": JSON_VALUES, "timestamp": JSON_VALUES}),
    receipt=JSON_VALUES
    | st.fixed_dictionaries(
        {
            "recipients": JSON_VALUES | st.lists(JSON_VALUES, max_size=3),
            "virusVerdict": JSON_VALUES | st.fixed_dictionaries({"status": JSON_VALUES}),
            "action": JSON_VALUES
            | st.fixed_dictionaries({"objectKey": JSON_VALUES, "bucketName": JSON_VALUES, "encoding": JSON_VALUES}),
        }
    ),
    content=JSON_VALUES,
)


@fuzz_settings(300)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300),
        JSON_VALUES.map(json.dumps),
        SHAPED,
    )
)
def test_any_body_is_a_notification_or_refused_with_a_reason(body):
    """Whatever arrives on the queue, the parser returns a notification or says why not; nothing else."""
    try:
        notification = parse_received_notification(body)
    except NotificationError as exc:
        assert str(exc)
    else:
        assert isinstance(notification.ses_message_id, str) and notification.ses_message_id
        assert all(isinstance(r, str) for r in notification.recipients)
