"""Finding new inbound mail for the live path (what the sensor calls: cheap and time-bounded).

- `receive_notifications` reads SES `Received` notifications from SQS (SNS-wrapped or raw) without
  deleting them; a malformed one becomes an item carrying its error;
- `discover_objects` lists the inbound prefix from a saved position, a bounded number of keys per
  call, and skips objects the ledger has finished with. SES object keys are not time-ordered, so the
  position wraps around: every key is looked at once per sweep, new ones wherever they fall.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field

from pipelines.handoff.ledger import HandoffLedger
from pipelines.handoff.notifications import NotificationError, parse_received_notification
from pipelines.storage.objects import ObjectStore


@dataclass
class InboundItem:
    """One message to hand off: where it is, and the SQS message that announced it (if any)."""

    object_key: str | None
    bucket: str | None = None
    """The bucket the notification names (`receipt.action.bucketName`); the object is fetched only from the
    configured archive, so a notification naming another bucket is refused."""
    sqs_message_id: str | None = None
    receipt_handle: str | None = None
    recipients: list[str] = field(default_factory=list)
    """`receipt.recipients` of the notification: the envelope addresses SES accepted it for."""
    verdicts: dict[str, str] = field(default_factory=dict)
    """The notification's verdicts (`spam`, `virus`, `spf`, `dkim`, `dmarc`): SES's word, used before the
    copies SES wrote into the message's headers."""
    error: str | None = None
    """Why the notification could not be used; the item is quarantined, never fetched."""

    def as_config(self) -> dict:
        return asdict(self)


def batch_key(items: list[InboundItem]) -> str:
    """A run key for a batch: the same messages (by SQS message id, else object key) give the same key."""
    names = sorted(item.sqs_message_id or item.object_key or "" for item in items)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:24]


def receive_notifications(
    sqs: object,
    queue_url: str,
    inbound_prefix: str,
    *,
    max_items: int,
    seconds: float,
    visibility_timeout: int,
) -> list[InboundItem]:
    """Up to `max_items` notifications received within about `seconds` (not deleted: that waits until
    each message's state is durable). They stay invisible to other readers for `visibility_timeout`."""
    items: list[InboundItem] = []
    deadline = time.monotonic() + seconds
    while len(items) < max_items and time.monotonic() < deadline:
        answer = sqs.receive_message(  # type: ignore[attr-defined]
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_items - len(items)),
            VisibilityTimeout=visibility_timeout,
            WaitTimeSeconds=0,
        )
        messages = answer.get("Messages", [])
        if not messages:
            break
        for message in messages:
            items.append(_item_from_sqs(message, inbound_prefix))
    return items


def _item_from_sqs(message: dict, inbound_prefix: str) -> InboundItem:
    ids = {"sqs_message_id": message["MessageId"], "receipt_handle": message["ReceiptHandle"]}
    try:
        notification = parse_received_notification(message.get("Body", ""))
    except NotificationError as exc:
        return InboundItem(object_key=None, error=f"{exc}: {message.get('Body', '')[:300]!r}", **ids)
    key = notification.object_key or f"{inbound_prefix}{notification.ses_message_id}"
    return InboundItem(
        object_key=key,
        bucket=notification.bucket,
        recipients=notification.recipients,
        verdicts=notification.verdicts,
        **ids,
    )


def discover_objects(
    store: ObjectStore,
    prefix: str,
    ledger: HandoffLedger,
    position: str | None,
    *,
    max_keys: int,
    exclude: set[str] = frozenset(),
) -> tuple[list[InboundItem], str | None]:
    """New objects under `prefix` from `position` on (at most `max_keys` listed), and the position
    to continue from (None: the sweep reached the end and starts over)."""
    listed: list[str] = []
    last: str | None = None
    for info in store.list(prefix, start_after=position):
        listed.append(info.key)
        last = info.key
        if len(listed) >= max_keys:
            break
    finished = ledger.finished_objects(listed)
    items = [InboundItem(object_key=key) for key in listed if key not in finished and key not in exclude]
    return items, (last if len(listed) >= max_keys else None)
