"""SES `Received` notifications, as they reach us through SNS → SQS (or raw delivery).

The notification names the S3 object (`receipt.action.objectKey`, never rebuilt by hand), carries
the envelope recipients SES matched (the most trusted tenant signal) and, for the SNS action,
the message itself in `content`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import orjson


class NotificationError(ValueError):
    """The payload is not a usable SES Received notification; the message says why."""


@dataclass(frozen=True)
class ReceivedNotification:
    ses_message_id: str
    recipients: list[str]
    """`receipt.recipients`: envelope RCPT TO addresses the receipt rule matched, lower-cased."""
    source: str | None
    timestamp: str | None
    action_type: str | None
    bucket: str | None
    object_key: str | None
    verdicts: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    """The raw message for the SNS action (decoded from UTF8 or BASE64), else None."""
    sns_message_id: str | None = None
    """SNS's MessageId: retries reuse it, so it identifies a delivery for de-duplication."""


def parse_received_notification(body: str | bytes) -> ReceivedNotification:
    """Accept an SNS envelope (`Type`/`Message`), a raw-delivery body or a Lambda `Records` event."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotificationError(f"not JSON: {exc}") from exc
    sns_message_id = None
    if isinstance(document, dict) and isinstance(document.get("Records"), list) and document["Records"]:
        record = document["Records"][0]
        document = record.get("ses") or record.get("Sns") or record
    if isinstance(document, dict) and "Type" in document and "Message" in document:
        sns_message_id = document.get("MessageId")
        try:
            document = orjson.loads(document["Message"])
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise NotificationError(f"SNS envelope whose Message is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise NotificationError("not a JSON object")
    kind = document.get("notificationType") or document.get("eventType")
    receipt, mail = document.get("receipt"), document.get("mail")
    if kind not in (None, "Received") or not isinstance(receipt, dict) or not isinstance(mail, dict):
        raise NotificationError(f"not a Received notification (type {kind!r})")
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise NotificationError("Received notification without mail.messageId")
    action = receipt.get("action") if isinstance(receipt.get("action"), dict) else {}
    verdicts = {
        name.removesuffix("Verdict"): str(value.get("status"))
        for name, value in receipt.items()
        if name.endswith("Verdict") and isinstance(value, dict)
    }
    return ReceivedNotification(
        ses_message_id=message_id,
        recipients=[r.strip().lower() for r in receipt.get("recipients") or [] if isinstance(r, str)],
        source=mail.get("source"),
        timestamp=mail.get("timestamp") or receipt.get("timestamp"),
        action_type=action.get("type"),
        bucket=action.get("bucketName"),
        object_key=action.get("objectKey"),
        verdicts=verdicts,
        content=_content(document.get("content"), action.get("encoding")),
        sns_message_id=sns_message_id,
    )


def _content(content: object, encoding: object) -> bytes | None:
    if not isinstance(content, str):
        return None
    if str(encoding).upper() == "BASE64":
        try:
            return base64.b64decode(content)
        except ValueError as exc:
            raise NotificationError(f"content is not valid base64: {exc}") from exc
    return content.encode("utf-8", "surrogateescape")
