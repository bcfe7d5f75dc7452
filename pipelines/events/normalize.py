"""SES events → `events` lake rows: one row per event × affected recipient.

Accepts the shapes the same events arrive in: Firehose NDJSON lines (event publishing,
`eventType`), SNS envelopes (`Type`/`Message` holding the event as a JSON string) and identity
notifications (`notificationType`, no tags). Each row carries a content fingerprint: md5 of the
event's JSON text exactly as delivered (the line, or an SNS envelope's `Message`), so Firehose's
at-least-once re-deliveries (byte-identical lines) collapse to one event, while two real opens a
second apart stay two. This module is the reference for every rule; the bulk
path in `pipelines.events.bulk` applies the same rules in DuckDB to the common Firehose shape.

Required: an event type (one of EVENT_TYPES), `mail.messageId` as a string and a parseable
timestamp (the detail's, else the mail's); a record without them is a bad line. Other fields are
read leniently, the same way DuckDB's json_transform reads them: a string field holding another
JSON value keeps that value's JSON text, a list or object field of another type counts as missing.
A line that is not UTF-8 is a `not_utf8` bad line, one that is not JSON (orjson's strict reading: no
NaN, no trailing commas, no lone surrogate escapes, at most 1024 levels) a `bad_json` one, and any
other failure on a line a `normalize_failed` one: a line never stops its file.

Opens and clicks are classified, since SES flags none of this:
- `gmail_proxy`: the user agent names GoogleImageProxy / ggpht.com (Gmail fetches images itself);
- `apple_proxy`: an address in Apple's 17.0.0.0/8 with the bare `Mozilla/5.0` agent of Mail
  Privacy Protection, which pre-fetches every message;
- `scanner`: an address in a published range of a link/security scanner (SCANNER_NETWORKS) or an
  agent naming one (SCANNER_AGENT_MARKERS);
- `human`: everything else.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime

import orjson

from pipelines.events.lines import CORRUPT, LINE_WHITESPACE, BadLine, read_lines
from pipelines.tenants import TENANT_TAG, TenantRegistry

EVENT_TYPES = (
    "Send", "Delivery", "Bounce", "Complaint", "Reject", "Open", "Click",
    "Rendering Failure", "DeliveryDelay", "Subscription",
)  # fmt: skip
DETAIL_KEYS = {
    "Send": "send", "Delivery": "delivery", "Bounce": "bounce", "Complaint": "complaint",
    "Reject": "reject", "Open": "open", "Click": "click", "Rendering Failure": "failure",
    "DeliveryDelay": "deliveryDelay", "Subscription": "subscription",
}  # fmt: skip
TENANT_TAGS = (TENANT_TAG, "tenant_id", "ses:tenant-name")
"""Message tags naming the tenant, in order of preference."""
CAMPAIGN_TAG = "campaign"
"""The message tag a tenant sets (SES v2 `EmailTags`, or `X-SES-MESSAGE-TAGS`) to name a campaign; its first
value is each event's `campaign`."""

APPLE_PROXY_NETWORK = ipaddress.ip_network("17.0.0.0/8")
SCANNER_NETWORKS = {
    "safelinks": ipaddress.ip_network("40.94.96.0/20"),  # Microsoft Defender Safe Links
    "proofpoint": ipaddress.ip_network("148.163.128.0/19"),
    "mimecast": ipaddress.ip_network("205.139.110.0/24"),
    "barracuda": ipaddress.ip_network("64.235.144.0/20"),
}
SCANNER_AGENT_MARKERS = ("barracuda", "proofpoint", "mimecast", "safelinks", "headlesschrome", "python-requests",
                         "curl/", "wget/", "go-http-client", "bot", "scanner")  # fmt: skip


class EventError(ValueError):
    """A record that cannot become events; `reason` is a short code for the quarantine table."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_timestamp(value: object) -> datetime | None:
    """An ISO 8601 time in UTC (no zone means UTC); None when it does not parse or leaves datetime's range."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


_LISTED_FIRST_OCTETS = {str(n.network_address).split(".")[0] for n in [APPLE_PROXY_NETWORK, *SCANNER_NETWORKS.values()]}
"""Only an IPv4 address starting with one of these can be in a listed network (all are /8 or longer)."""


def classify_agent(event_type: str, ip: str | None, user_agent: str | None) -> str | None:
    """human / apple_proxy / gmail_proxy / scanner for opens and clicks; None for other types."""
    if event_type not in ("Open", "Click"):
        return None
    agent = (user_agent or "").lower()
    if "googleimageproxy" in agent or "ggpht.com" in agent:
        return "gmail_proxy"
    address = _ip(ip) if ip and ip.partition(".")[0] in _LISTED_FIRST_OCTETS else None
    if address is not None and any(address in network for network in SCANNER_NETWORKS.values()):
        return "scanner"
    if any(marker in agent for marker in SCANNER_AGENT_MARKERS):
        return "scanner"
    if address is not None and address in APPLE_PROXY_NETWORK and agent.strip() == "mozilla/5.0":
        return "apple_proxy"
    return "human"


def _ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value) if value else None
    except ValueError:
        return None


def unwrap(record: object, text: bytes | None = None) -> tuple[dict, bytes | None]:
    """The SES event inside an SNS envelope (or the record itself), with its JSON text when known."""
    if isinstance(record, dict) and record.get("Type") == "Notification" and isinstance(record.get("Message"), str):
        text = record["Message"].encode()
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise EventError("bad_json", f"SNS envelope whose Message is not JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise EventError("bad_shape", f"expected a JSON object, got {type(record).__name__}")
    return record, text


def fingerprint(event: dict, text: bytes | None) -> str:
    """md5 of the event's JSON text as delivered, or of its sorted compact JSON when only parsed.

    A dedupe key, not a security measure: md5 is what DuckDB computes fastest for the bulk path."""
    data = text if text is not None else orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    return hashlib.md5(data).hexdigest()


def normalize(record: object, registry: TenantRegistry | None, text: bytes | None = None) -> list[dict]:
    """Rows of one SES event (any accepted shape); raises EventError for unusable records.

    `text` is the JSON text `record` was parsed from, the source of its fingerprint."""
    event, text = unwrap(record, text)
    event_type = event.get("eventType") or event.get("notificationType")
    if event_type == "Received":
        raise EventError("not_an_event", "an inbound Received notification, not a sending event")
    if event_type not in DETAIL_KEYS:
        raise EventError("unknown_event_type", f"unknown event type {event_type!r}")
    mail = event.get("mail")
    if not isinstance(mail, dict) or not isinstance(mail.get("messageId"), str):
        raise EventError("bad_shape", "event without mail.messageId")
    detail = event.get(DETAIL_KEYS[event_type])
    if detail is None:
        detail = {}
    if not isinstance(detail, dict):
        raise EventError("bad_shape", f"{DETAIL_KEYS[event_type]} is not an object")
    tags = _object(mail.get("tags"))
    event_at = parse_timestamp(detail.get("timestamp")) or parse_timestamp(mail.get("timestamp"))
    if event_at is None:
        raise EventError("bad_timestamp", "no parseable timestamp in the event or its mail")
    tenant_id, attributed_by = attribute_event(mail, tags, registry)
    ip, agent = _text(detail.get("ipAddress")), _text(detail.get("userAgent"))
    link_tags = detail.get("linkTags")
    common = {
        "fingerprint": fingerprint(event, text),
        "event_type": event_type,
        "ses_message_id": mail["messageId"],
        "tenant_id": tenant_id,
        "attributed_by": attributed_by,
        "event_at": event_at,
        "sent_at": parse_timestamp(mail.get("timestamp")),
        "configuration_set": _first_tag(tags, "ses:configuration-set"),
        "from_domain": _first_tag(tags, "ses:from-domain"),
        "campaign": _first_tag(tags, CAMPAIGN_TAG),
        "bounce_type": _text(detail.get("bounceType")),
        "bounce_subtype": _text(detail.get("bounceSubType")),
        "complaint_feedback_type": _text(detail.get("complaintFeedbackType")),
        "delay_type": _text(detail.get("delayType")),
        "link": _text(detail.get("link")),
        "link_tags": orjson.dumps(link_tags).decode() if link_tags else None,
        "ip": ip,
        "user_agent": agent,
        "agent_class": classify_agent(event_type, ip, agent),
        "feedback_id": _text(detail.get("feedbackId")),
    }
    return [
        {**common, "recipient": rcpt, "diagnostic_code": code} for rcpt, code in _recipients(event_type, detail, mail)
    ]


def _recipients(event_type: str, detail: dict, mail: dict) -> list[tuple[str | None, str | None]]:
    """(recipient, diagnostic code) pairs the event affects."""
    listed_key = {
        "Bounce": "bouncedRecipients",
        "Complaint": "complainedRecipients",
        "DeliveryDelay": "delayedRecipients",
    }
    if event_type in listed_key:
        entries = [_object(e) for e in _list(detail.get(listed_key[event_type]))]
        found = [(_lower(e.get("emailAddress")) or None, _text(e.get("diagnosticCode"))) for e in entries]
        return found or [(None, None)]
    if event_type == "Delivery":
        return [(_lower(r), None) for r in _list(detail.get("recipients"))] or [(None, None)]
    destination = [_lower(r) for r in _list(mail.get("destination"))]
    if event_type in ("Open", "Click"):
        # SES does not say which recipient opened or clicked: known only for single-recipient mail.
        return [(destination[0] if len(destination) == 1 else None, None)]
    return [(r, None) for r in destination] or [(None, None)]


def _text(value: object) -> str | None:
    """A string field: a string as is, another JSON value as its compact JSON text, null as None."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _list(value: object) -> list:
    """A list field: anything but a list counts as missing."""
    return value if isinstance(value, list) else []


def _object(value: object) -> dict:
    """An object field: anything but an object counts as empty."""
    return value if isinstance(value, dict) else {}


def _lower(value: object) -> str | None:
    text = _text(value)
    return None if text is None else text.lower()


def _first_tag(tags: dict, name: str) -> str | None:
    """First value of a message tag (SES gives each tag as a list of strings)."""
    values = _list(tags.get(name))
    return _text(values[0]) if values else None


def attribute_event(mail: dict, tags: dict, registry: TenantRegistry | None) -> tuple[str | None, str | None]:
    """Tenant of an outbound event, by the same rules as the outbound archive."""
    if registry is None:
        return None, None
    common = _object(mail.get("commonHeaders"))
    senders = [_first_tag(tags, "ses:from-domain"), *map(_text, _list(common.get("from"))), _text(mail.get("source"))]
    attribution = registry.attribute_sending(
        tenant_tags=[_first_tag(tags, name) for name in TENANT_TAGS],
        configuration_set=_first_tag(tags, "ses:configuration-set"),
        senders=[s for s in senders if isinstance(s, str)],
    )
    return (attribution.tenant_id, attribution.by) if attribution else (None, None)


def parse_event_file(data: bytes, registry: TenantRegistry | None) -> tuple[list[dict], list[BadLine]]:
    """Rows of every good line of one Firehose object (gzip or not), and the bad lines with their
    reasons, read within the limits of `pipelines.events.lines` (a corrupt gzip gives no rows and one
    bad line for the whole object)."""
    lines: list[tuple[int, bytes]] = []
    unread: list[BadLine] = []
    for item in read_lines(io.BytesIO(data)):
        (unread if isinstance(item, BadLine) else lines).append(item)
    if any(bad.reason == CORRUPT for bad in unread):
        return [], [bad for bad in unread if bad.reason == CORRUPT]
    rows, bad = parse_lines(lines, registry)
    return rows, sorted(bad + unread, key=lambda b: b.line_number or 0)


def parse_lines(
    lines: Iterable[tuple[int, bytes]], registry: TenantRegistry | None
) -> tuple[list[dict], list[BadLine]]:
    """Rows of every good (line number, line) pair, and the bad lines with their reasons."""
    rows: list[dict] = []
    bad: list[BadLine] = []
    for number, line in lines:
        try:
            for row in normalize(orjson.loads(line.strip(LINE_WHITESPACE)), registry, line):
                row["line_number"] = number
                rows.append(row)
        except orjson.JSONDecodeError as exc:
            bad.append(_undecodable(number, line, exc))
        except EventError as exc:
            bad.append(BadLine(number, exc.reason, str(exc)))
        except (TypeError, AttributeError, ValueError) as exc:
            bad.append(BadLine(number, "bad_shape", f"{type(exc).__name__}: {exc}"))
        except Exception as exc:  # whatever else a line causes stays with that line
            bad.append(BadLine(number, "normalize_failed", f"{type(exc).__name__}: {exc}"))
    return rows, bad


def _undecodable(number: int, line: bytes, exc: orjson.JSONDecodeError) -> BadLine:
    """The bad line for a line orjson refused: `not_utf8` when that is why, else `bad_json`."""
    try:
        line.decode()
    except UnicodeDecodeError as undecoded:
        where = f"byte {undecoded.start}: {line[max(0, undecoded.start - 40) : undecoded.start + 40]!r}"
        return BadLine(number, "not_utf8", f"not UTF-8 at {where}")
    return BadLine(number, "bad_json", f"{exc}: {line[:200]!r}")
