"""SES event publishing records for every send, and the Firehose objects that carry them.

Each outbound message gets Send, then Delivery or a Bounce/Reject/Rendering Failure, delays,
opens (Apple Mail Privacy Protection prefetches, Gmail's image proxy, people) and clicks (people
and link scanners), complaints and unsubscribes. The Firehose writer then buffers them by arrival
time into NDJSON objects under `events/YYYY/MM/DD/HH/` and adds what Firehose really delivers:
gzip on some objects, blank lines, exact duplicate lines, late objects and a few bad lines.
"""

from __future__ import annotations

import gzip
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .clients import uuid4
from .mime import iso_ms
from .outbound import CALLER, SOURCE_IP, OutboundMeta
from .tenants import ACCOUNT_ID

EVENT_TYPES = (
    "Send",
    "Delivery",
    "Bounce",
    "Complaint",
    "Reject",
    "Open",
    "Click",
    "Rendering Failure",
    "DeliveryDelay",
    "Subscription",
)
_OBJECT_KEY = {
    "Send": "send",
    "Delivery": "delivery",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Reject": "reject",
    "Open": "open",
    "Click": "click",
    "Rendering Failure": "failure",
    "DeliveryDelay": "deliveryDelay",
    "Subscription": "subscription",
}
STREAM = "seslake-events"
BUFFER_MS = 900_000
"""Firehose buffering interval (the maximum, 900 s): one object per window with data."""

APPLE_PROXY_NETWORK = "17.0.0.0/8"
GMAIL_PROXY_NETWORK = "66.249.80.0/20"
GMAIL_PROXY_UA = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
APPLE_PROXY_UA = "Mozilla/5.0"
SCANNERS: tuple[tuple[str, str, str], ...] = (
    (
        "safelinks",
        "40.94.96.0/20",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36 Edg/124.0.0.0",
    ),
    (
        "proofpoint",
        "148.163.128.0/19",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.6478.126 "
        "Safari/537.36",
    ),
    ("mimecast", "205.139.110.0/24", "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)"),
    ("barracuda", "64.235.144.0/20", "Barracuda Sentinel (EE)"),
)
"""Link scanners: (name, network, user agent). They click every link seconds after delivery."""

HUMAN_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36 "
    "Edg/129.0.0.0",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18025; Pro)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/129.0.6668.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Mozilla/5.0 (Linux; Android 13; moto g(60)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Mobile "
    "Safari/537.36",
)
BROWSER_UAS = tuple(ua for ua in HUMAN_UAS if not ua.startswith("Microsoft Office"))


def _dumps(obj: object) -> bytes:
    """orjson.dumps, copied into a right-sized object: its results pin ~4 KB each while alive."""
    out = orjson.dumps(obj)
    return out[:-1] + out[-1:]


def _net_ip(rng: random.Random, network: str) -> str:
    base, bits = network.split("/")
    a, b, c, d = (int(x) for x in base.split("."))
    value = (a << 24 | b << 16 | c << 8 | d) + rng.randrange(1, 2 ** (32 - int(bits)) - 1)
    return ".".join(str((value >> s) & 255) for s in (24, 16, 8, 0))


def _doc_ip(rng: random.Random) -> str:
    return f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randrange(1, 255)}"


@dataclass(slots=True)
class Event:
    ms: int
    seq: int
    meta: int
    etype: str
    obj: bytes
    """The serialized per-type object (`delivery`, `open`, ...): compact to keep 100k-message runs small."""
    outgoing: bool
    label: str | None = None
    """Who triggered an open/click: human, apple_mpp, gmail_proxy or scanner:<name>."""


@dataclass(slots=True)
class Forced:
    """Outbound indices that must get a given rare outcome so every event type appears."""

    complaint: set[int] = field(default_factory=set)
    subscription: set[int] = field(default_factory=set)
    delay: set[int] = field(default_factory=set)


def _feedback_id(rng: random.Random, ms: int, region: str) -> str:
    return f"{'0102' if region == 'eu-west-1' else '0100'}{ms:012x}-{uuid4(rng)}-000000"


def _smtp_response(rng: random.Random, kind: str, ms: int) -> str:
    if kind == "gmail":
        queue = f"d75a77b69052e-{rng.getrandbits(40):010x}si{rng.randrange(10**7)}qtb.{rng.randrange(999)}"
        return f"250 2.0.0 OK  {ms // 1000} {queue} - gsmtp"
    if kind in ("outlook", "corporate"):
        return (
            f"250 2.6.0 <{rng.getrandbits(64):016x}@amazonses.com> [InternalId={rng.randrange(10**13)}, "
            "Hostname=CP4P284MB2035.BRAP284.PROD.OUTLOOK.COM] Queued mail for delivery"
        )
    if kind == "yahoo":
        return "250 ok dirdel"
    return f"250 2.0.0 Ok: queued as {rng.getrandbits(40):010X}"


_BOUNCES = (
    (
        "Permanent",
        "General",
        "5.1.1",
        "smtp; 550-5.1.1 The email account that you tried to reach does not exist. "
        "Please try double-checking the recipient's email address for typos or unnecessary spaces. "
        "For more information, go to https://support.google.com/mail/?p=NoSuchUser - gsmtp",
        46,
    ),
    (
        "Permanent",
        "NoEmail",
        "5.1.10",
        "smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        14,
    ),
    (
        "Permanent",
        "Suppressed",
        "5.1.1",
        "Amazon SES has suppressed sending to this address because it has a recent "
        "history of bouncing as an invalid address. For more information about how to remove an address from the "
        "suppression list, see the Amazon SES Developer Guide: "
        "https://docs.aws.amazon.com/ses/latest/DeveloperGuide/remove-from-suppressionlist.html ",
        18,
    ),
    (
        "Transient",
        "MailboxFull",
        "5.2.2",
        "smtp; 552 5.2.2 The recipient's inbox is out of storage space. "
        "Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm - gsmtp",
        16,
    ),
    ("Transient", "General", "4.4.7", "smtp; 421 4.4.7 Message expired: unable to deliver in 840 minutes", 6),
)


def plan_events(rng: random.Random, m: OutboundMeta, forced: Forced, seq0: int) -> list[Event]:
    """All (unique) events SES publishes for one send, in event time."""
    region = m.tenant.region
    send = m.send_ms
    out: list[Event] = []

    def add(ms: int, etype: str, obj: dict[str, object], outgoing: bool, label: str | None = None) -> None:
        out.append(Event(ms, seq0 + len(out), m.index, etype, _dumps(obj), outgoing, label))

    add(send + rng.randrange(50, 400), "Send", {}, False)
    if m.fate == "reject":
        add(send + rng.randrange(100, 900), "Reject", {"reason": "Bad content"}, False)
        return out
    if m.fate == "render_fail":
        add(
            send + rng.randrange(50, 250),
            "Rendering Failure",
            {
                "templateName": "encuesta-satisfaccion",
                "errorMessage": "Attribute 'nombre' is not present in the rendering data.",
            },
            False,
        )
        return out
    mta = f"a{rng.randrange(8, 60)}-{rng.randrange(1, 250)}.smtp-out.{region}.amazonses.com"
    kind = m.recipient_kinds[0] if m.recipient_kinds else "other"
    if m.fate == "bounce":
        weights = [b[4] for b in _BOUNCES]
        btype, bsub, status, diag, _ = rng.choices(_BOUNCES, weights=weights)[0]
        at = send + rng.randrange(800, 8000)
        if bsub == "Suppressed":
            at = send + rng.randrange(50, 300)
        if btype == "Transient":
            expiry = send + 14 * 3_600_000
            for k in range(rng.randrange(1, 3)):
                add(
                    send + (k + 1) * rng.randrange(300_000, 3_600_000),
                    "DeliveryDelay",
                    {
                        "timestamp": iso_ms(send + (k + 1) * 1_800_000),
                        "delayType": "MailboxFull",
                        "expirationTime": iso_ms(expiry),
                        "reportingMTA": _doc_ip(rng),
                        "delayedRecipients": [
                            {
                                "emailAddress": m.to[0],
                                "status": "4.2.2",
                                "diagnosticCode": "smtp; 452 4.2.2 Mailbox full",
                            }
                        ],
                    },
                    False,
                )
            at = send + rng.randrange(4 * 3_600_000, 14 * 3_600_000)
        bounce = {
            "bounceType": btype,
            "bounceSubType": bsub,
            "bouncedRecipients": [
                {"emailAddress": m.to[0], "action": "failed", "status": status, "diagnosticCode": diag}
            ],
            "timestamp": iso_ms(at),
            "feedbackId": _feedback_id(rng, at, region),
            "reportingMTA": "dns; amazonses.com" if bsub == "Suppressed" else f"dsn; {mta}",
        }
        add(at, "Bounce", bounce, bsub != "Suppressed")
        if len(m.to) > 1:
            d = at + rng.randrange(100, 3000)
            add(
                d,
                "Delivery",
                {
                    "timestamp": iso_ms(d),
                    "processingTimeMillis": d - send,
                    "recipients": m.to[1:],
                    "smtpResponse": _smtp_response(rng, "other", d),
                    "reportingMTA": mta,
                    "remoteMtaIp": _doc_ip(rng),
                },
                True,
            )
        return out

    # delivered
    delivered = send + rng.randrange(800, 15_000)
    if rng.random() < 0.05:
        delivered = send + rng.randrange(60_000, 600_000)
    if m.index in forced.delay or rng.random() < 0.015:
        first_try = send + rng.randrange(300_000, 3_600_000)
        add(
            first_try,
            "DeliveryDelay",
            {
                "timestamp": iso_ms(first_try),
                "delayType": rng.choice(("TransientCommunicationFailure", "RecipientServerError", "General")),
                "expirationTime": iso_ms(send + 14 * 3_600_000),
                "reportingMTA": _doc_ip(rng),
                "delayedRecipients": [
                    {
                        "emailAddress": m.to[0],
                        "status": "4.4.1",
                        "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host",
                    }
                ],
            },
            False,
        )
        delivered = first_try + rng.randrange(600_000, 6 * 3_600_000)
    add(
        delivered,
        "Delivery",
        {
            "timestamp": iso_ms(delivered),
            "processingTimeMillis": delivered - send,
            "recipients": list(m.to),
            "smtpResponse": _smtp_response(rng, kind, delivered),
            "reportingMTA": mta,
            "remoteMtaIp": _doc_ip(rng),
        },
        True,
    )

    # opens
    opens: list[int] = []
    if kind == "apple":
        for _ in range(rng.randrange(1, 3)):
            t = delivered + rng.randrange(2_000, 90_000)
            add(
                t,
                "Open",
                {"ipAddress": _net_ip(rng, APPLE_PROXY_NETWORK), "timestamp": iso_ms(t), "userAgent": APPLE_PROXY_UA},
                True,
                "apple_mpp",
            )
        for _ in range(rng.choice((0, 0, 1, 2))):
            t = delivered + rng.randrange(600_000, 172_800_000)
            add(
                t,
                "Open",
                {"ipAddress": _net_ip(rng, APPLE_PROXY_NETWORK), "timestamp": iso_ms(t), "userAgent": APPLE_PROXY_UA},
                True,
                "apple_mpp",
            )
            opens.append(t)
    else:
        n = rng.choices((0, 1, 2, 3, 4, 5), weights=(30, 34, 16, 10, 6, 4))[0]
        ua, ip = rng.choice(HUMAN_UAS), _doc_ip(rng)
        for _ in range(n):
            t = delivered + int(rng.expovariate(1 / 7_200_000)) + rng.randrange(20_000, 300_000)
            if kind == "gmail":
                add(
                    t,
                    "Open",
                    {
                        "ipAddress": _net_ip(rng, GMAIL_PROXY_NETWORK),
                        "timestamp": iso_ms(t),
                        "userAgent": GMAIL_PROXY_UA,
                    },
                    True,
                    "gmail_proxy",
                )
            else:
                add(t, "Open", {"ipAddress": ip, "timestamp": iso_ms(t), "userAgent": ua}, True, "human")
            opens.append(t)
    # clicks
    if kind == "corporate" and rng.random() < 0.65:
        name, net, sua = rng.choice(SCANNERS)
        t = delivered + rng.randrange(1_000, 15_000)
        if rng.random() < 0.5:
            add(
                t,
                "Open",
                {"ipAddress": _net_ip(rng, net), "timestamp": iso_ms(t), "userAgent": sua},
                True,
                f"scanner:{name}",
            )
        for url, tag in m.links:
            t += rng.randrange(200, 3_000)
            add(
                t,
                "Click",
                {
                    "ipAddress": _net_ip(rng, net),
                    "timestamp": iso_ms(t),
                    "userAgent": sua,
                    "link": url,
                    "linkTags": {"link": [tag]},
                },
                True,
                f"scanner:{name}",
            )
    if opens and m.links and rng.random() < (0.35 if m.survey else 0.14):
        ua, ip = rng.choice(BROWSER_UAS), _doc_ip(rng)
        t = min(opens) + rng.randrange(5_000, 600_000)
        for url, tag in rng.sample(m.links, k=1 if rng.random() < 0.8 else min(2, len(m.links))):
            add(
                t,
                "Click",
                {"ipAddress": ip, "timestamp": iso_ms(t), "userAgent": ua, "link": url, "linkTags": {"link": [tag]}},
                True,
                "human",
            )
            t += rng.randrange(5_000, 120_000)

    if m.index in forced.complaint or rng.random() < m.tenant.complaint_rate:
        t = delivered + rng.randrange(3_600_000, 3 * 86_400_000)
        fbl = {"yahoo": "Yahoo!-Mail-Feedback/2.0", "outlook": "Microsoft JMRP"}.get(kind, "ISP Feedback Loop (V0.01)")
        add(
            t,
            "Complaint",
            {
                "complainedRecipients": [{"emailAddress": m.to[0]}],
                "timestamp": iso_ms(t),
                "feedbackId": _feedback_id(rng, t, region),
                "complaintSubType": None,
                "userAgent": fbl,
                "complaintFeedbackType": "abuse",
                "arrivalDate": iso_ms(t - rng.randrange(1_000, 60_000)),
            },
            True,
        )
    if m.survey and (m.index in forced.subscription or rng.random() < 0.12):
        t = delivered + rng.randrange(60_000, 2 * 86_400_000)
        topic = [{"topicName": "encuestas", "subscriptionStatus": "OptOut"}]
        add(
            t,
            "Subscription",
            {
                "contactList": f"{m.tenant.id}-clientes",
                "timestamp": iso_ms(t),
                "source": rng.choice(("UnsubscribeHeader", "UnsubscribeLink")),
                "newTopicPreferences": {"unsubscribeAll": True, "topicSubscriptionStatus": topic},
                "oldTopicPreferences": {
                    "unsubscribeAll": False,
                    "topicSubscriptionStatus": [{"topicName": "encuestas", "subscriptionStatus": "OptIn"}],
                },
            },
            True,
        )
    return out


class MailCache:
    """Serialized `mail` objects per send (two shapes × outgoing-ip tag), built once."""

    def __init__(self, metas: list[OutboundMeta], outgoing_ips: list[str]) -> None:
        self.metas = metas
        self.outgoing_ips = outgoing_ips
        self.cache: dict[tuple[int, bool, bool], bytes] = {}

    def get(self, index: int, with_headers: bool, outgoing: bool) -> bytes:
        key = (index, with_headers, outgoing)
        hit = self.cache.get(key)
        if hit is None:
            hit = self.cache[key] = _dumps(self._mail(index, with_headers, outgoing))
        return hit

    def evict(self, index: int) -> None:
        """Forget a send once its last event is written (a later bad line just rebuilds it)."""
        for with_headers in (True, False):
            for outgoing in (True, False):
                self.cache.pop((index, with_headers, outgoing), None)

    def _mail(self, index: int, with_headers: bool, outgoing: bool) -> dict[str, object]:
        m = self.metas[index]
        tags: dict[str, list[str]] = {
            "ses:operation": ["SendEmail"],
            "ses:configuration-set": [m.configuration_set],
            "ses:source-ip": [SOURCE_IP],
            "ses:from-domain": [m.from_addr.rsplit("@", 1)[1]],
            "ses:caller-identity": [CALLER],
        }
        if outgoing:
            tags["ses:outgoing-ip"] = [self.outgoing_ips[index]]
        tags.update(m.tags)
        mail: dict[str, object] = {
            "timestamp": iso_ms(m.send_ms),
            "source": m.from_addr,
            "sourceArn": f"arn:aws:ses:{m.tenant.region}:{ACCOUNT_ID}:identity/{m.tenant.domain}",
            "sendingAccountId": ACCOUNT_ID,
            "messageId": m.ses_id,
            "destination": list(m.to),
            "headersTruncated": False,
        }
        if with_headers:
            mail["headers"] = [{"name": n, "value": v} for n, v in m.headers]
            common: dict[str, object] = {"from": [m.from_decoded]}
            if m.reply_to:
                common["replyTo"] = list(m.reply_to)
            common.update(
                {"date": m.date_header, "to": list(m.to_decoded), "messageId": m.ses_id, "subject": m.subject}
            )
            mail["commonHeaders"] = common
        mail["tags"] = tags
        return mail


def event_line(ev: Event, cache: MailCache) -> bytes:
    with_headers = ev.etype not in ("Rendering Failure", "DeliveryDelay")
    mail = cache.get(ev.meta, with_headers, ev.outgoing)
    return (
        b'{"eventType":"'
        + ev.etype.encode()
        + b'","mail":'
        + mail
        + b',"'
        + _OBJECT_KEY[ev.etype].encode()
        + b'":'
        + ev.obj
        + b"}"
    )


@dataclass(slots=True)
class FirehoseResult:
    files: int = 0
    gz_files: int = 0
    lines: int = 0
    event_lines: int = 0
    blank_lines: int = 0
    bytes: int = 0
    late_files: int = 0
    truth: list[dict[str, object]] = field(default_factory=list)


_UNKNOWN_TYPES = (b"Unsubscribe", b"DeliveryFailure", b"Blocked")


@dataclass(slots=True)
class _Slot:
    """One line of a Firehose object: an event, an exact repeat of one, or a bad line."""

    kind: str
    """'event', 'duplicate' or 'bad'."""
    event: int
    """Index into the event list (for 'bad': the event the broken line was made from)."""
    reason: str = ""


def plan_objects(events: list[Event], rng: random.Random) -> tuple[list[int], list[list[_Slot]]]:
    """Start time and lines of every object: arrival-time buffering plus duplicates and bad lines."""
    arrivals = sorted((e.ms + rng.randrange(500, 60_000), e.seq, i) for i, e in enumerate(events))
    starts: list[int] = []
    files: list[list[_Slot]] = []
    for arr, _seq, i in arrivals:
        if not starts or arr >= starts[-1] + BUFFER_MS:
            starts.append(arr)
            files.append([])
        files[-1].append(_Slot("event", i))
    for f, slots in enumerate(files):
        for pos, slot in enumerate(list(slots)):
            if slot.kind != "event" or rng.random() >= 0.015:
                continue
            dup = _Slot("duplicate", slot.event)
            if f + 1 < len(files) and rng.random() < 0.4:
                files[f + 1].insert(rng.randrange(len(files[f + 1]) + 1), dup)
            else:
                at = slots.index(slot, pos) + 1
                slots.insert(rng.randrange(at, len(slots) + 1), dup)
    n_bad = max(3, round(len(events) / 1500)) if len(events) >= 500 else int(len(events) / 1500 + rng.random())
    for _ in range(n_bad):
        slots = files[rng.randrange(len(files))]
        reason = rng.choice(("truncated_json", "unknown_event_type"))
        slots.insert(rng.randrange(len(slots) + 1), _Slot("bad", rng.randrange(len(events)), reason))
    return starts, files


def _bad_line(line: bytes, etype: str, reason: str, rng: random.Random) -> bytes:
    if reason == "truncated_json":
        return line[: rng.randrange(20, max(21, len(line) * 3 // 4))]
    old = b'"eventType":"' + etype.encode() + b'"'
    return line.replace(old, b'"eventType":"' + rng.choice(_UNKNOWN_TYPES) + b'"', 1)


def _object_key(ms: int, gz: bool, rng: random.Random) -> str:
    t = time.gmtime(ms // 1000)
    stamp = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}-{t.tm_hour:02d}-{t.tm_min:02d}-{t.tm_sec:02d}"
    return (
        f"events/{t.tm_year:04d}/{t.tm_mon:02d}/{t.tm_mday:02d}/{t.tm_hour:02d}/"
        f"{STREAM}-1-{stamp}-{uuid4(rng)}{'.gz' if gz else ''}"
    )


def write_firehose(dest: Path, events: list[Event], cache: MailCache, rng: random.Random) -> FirehoseResult:
    """Buffer events by arrival into Firehose objects and write them with Firehose's warts."""
    res = FirehoseResult()
    starts, files = plan_objects(events, rng)
    n_late = min(len(files), max(2 if len(files) >= 100 else 0, round(len(files) * 0.01)))
    late_files = set(rng.sample(range(len(files)), k=n_late))
    made_dirs: set[Path] = set()
    first_seen: dict[int, tuple[str, int]] = {}
    duplicated = {slot.event for slots in files for slot in slots if slot.kind == "duplicate"}
    repeated: dict[int, bytes] = {}
    remaining: dict[int, int] = {}
    for e in events:
        remaining[e.meta] = remaining.get(e.meta, 0) + 1
    for f, (start_ms, slots) in enumerate(zip(starts, files, strict=True)):
        key_ms = start_ms + rng.randrange(0, 5_000)
        late = f in late_files
        if late:
            key_ms += rng.randrange(3_600_000, 50 * 3_600_000)
            res.late_files += 1
        gz = rng.random() < 0.25
        double_spaced = rng.random() < 0.01
        lines: list[bytes] = []
        placed: list[tuple[_Slot, int]] = []
        for slot in slots:
            e = events[slot.event]
            if slot.kind == "bad":
                lines.append(_bad_line(event_line(e, cache), e.etype, slot.reason, rng))
            elif slot.kind == "duplicate":  # always placed after its original
                lines.append(repeated.pop(slot.event))
            else:
                line = event_line(e, cache)
                if slot.event in duplicated:
                    repeated[slot.event] = line
                remaining[e.meta] -= 1
                if not remaining[e.meta]:
                    cache.evict(e.meta)
                lines.append(line)
            placed.append((slot, len(lines)))
            if double_spaced:
                lines.append(b"")
        if not double_spaced and rng.random() < 0.03:
            at = rng.randrange(len(lines) + 1)
            lines.insert(at, b"")
            placed = [(slot, n + 1 if n > at else n) for slot, n in placed]
        res.blank_lines += sum(1 for line in lines if not line)
        rel = _object_key(key_ms, gz, rng)
        data = b"\n".join(lines) + b"\n"
        if gz:
            data = gzip.compress(data, compresslevel=6, mtime=key_ms // 1000)
            res.gz_files += 1
        path = dest / rel
        if path.parent not in made_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(path.parent)
        path.write_bytes(data)
        mtime = key_ms // 1000 + rng.randrange(1, 60)
        os.utime(path, (mtime, mtime))
        res.files += 1
        res.bytes += len(data)
        res.lines += len(lines)
        for slot, lineno in placed:
            if slot.kind == "event":
                res.event_lines += 1
                first_seen[slot.event] = (rel, lineno)
            elif slot.kind == "duplicate":
                res.event_lines += 1
                orig_key, orig_line = first_seen.get(slot.event, (None, None))
                res.truth.append(
                    {
                        "record": "duplicate",
                        "key": rel,
                        "line": lineno,
                        "original_key": orig_key,
                        "original_line": orig_line,
                    }
                )
            else:
                res.truth.append({"record": "bad_line", "key": rel, "line": lineno, "reason": slot.reason})
        if late:
            times = [events[slot.event].ms for slot, _ in placed if slot.kind == "event"]
            if times:
                res.truth.append(
                    {
                        "record": "late_file",
                        "key": rel,
                        "first_event_at": iso_ms(min(times)),
                        "last_event_at": iso_ms(max(times)),
                        "key_time": iso_ms(key_ms),
                    }
                )
    return res
