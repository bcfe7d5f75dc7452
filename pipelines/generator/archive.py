"""Simulate a support inbox per tenant and write the bucket the pipeline reads.

Phase 1 plans conversations (who writes when, how the agents answer, which sends bounce); phase
2 scatters the rare awkward objects across tenants so every kind appears in a month; phase 3
renders and writes inbound and outbound objects; phase 4 derives SES events and writes them as
Firehose objects; phase 5 writes `tenants.yaml` and the ground truth under `_truth/`.
Everything draws from RNGs seeded by the archive seed, so the bytes are identical on every run.
"""

from __future__ import annotations

import calendar
import hashlib
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import orjson

from pipelines.events.normalize import CAMPAIGN_TAG

from . import events as ev
from . import mime, text
from .clients import (
    Attachment,
    Draft,
    Rendered,
    hexstr,
    message_id_for,
    render,
    ses_inbound_id,
    thread_index,
)
from .inbound import (
    BAD_DATES,
    BlobPool,
    Customer,
    Delivered,
    company_logo,
    deliver,
    draft_for,
    drop_closing_boundary,
    first_text,
    forward_subject,
    huge_references,
    huge_to,
    inline_forward_block,
    junk_bytes,
    make_attachment,
    make_customer,
    notification,
    pick_filenames,
    quote_for,
    replace_header,
    reply_subject,
    reply_text,
    subject_first,
    unknown_inbound,
)
from .outbound import (
    Built,
    OutboundMeta,
    agent_language,
    agent_texts,
    build,
    recipient_kind,
    ses_outbound_id,
    survey_texts,
    wire_id,
)
from .outbound import (
    reply_subject as service_reply_subject,
)
from .tenants import Tenant, build_tenants, registry_yaml

SPECIAL_RATES: dict[str, float] = {
    "malformed_missing_date": 0.0015,
    "malformed_bad_date": 0.0015,
    "malformed_truncated_multipart": 0.0015,
    "malformed_bad_base64": 0.0015,
    "malformed_unknown_charset": 0.0015,
    "malformed_huge_header": 0.001,
    "malformed_huge_references": 0.001,
    "malformed_8bit_header": 0.0015,
    "empty": 0.001,
    "junk": 0.001,
    "virus": 0.005,
    "spam": 0.01,
    "unattributable": 0.005,
    "duplicate_delivery": 0.003,
}
"""Share of inbound objects per awkward kind (at least one each once an archive has 400+ messages)."""

_HOUR_WEIGHTS = (
    0.2,
    0.1,
    0.05,
    0.05,
    0.05,
    0.1,
    0.3,
    0.8,
    1.6,
    2.4,
    2.6,
    2.5,
    2.0,
    1.8,
    2.2,
    2.4,
    2.2,
    1.9,
    1.5,
    1.2,
    1.0,
    0.8,
    0.6,
    0.4,
)
_SPAM_DOMAINS = (
    "ofertas-ya.example.net",
    "premios-club.example.org",
    "verificacion-cuentas.example.com",
    "promo-brasil.example.net",
    "mkt-envios.example.org",
)


@dataclass(slots=True)
class GenerationSummary:
    """What a run wrote, for the CLI to print."""

    dest: Path
    tenants: int
    inbound_objects: int
    outbound_objects: int
    event_files: int
    event_lines: int
    bytes_written: int
    seconds: float


def messages_per_day_for(total_messages: int, tenants: int, days: int) -> int:
    """Inbound messages per tenant per day that make about `total_messages` inbound objects.

    Outbound replies come on top (roughly 0.6 per inbound message).
    """
    return max(1, round(total_messages / (max(1, tenants) * max(1, days))))


@dataclass(slots=True)
class Step:
    direction: str
    """'in' (customer), 'out' (agent reply) or 'survey' (satisfaction survey)."""
    ts: int
    fate: str = "delivered"


@dataclass(slots=True)
class Plan:
    tenant: Tenant
    start: int
    steps: list[Step]
    label: str = ""
    case_no: int = 0


@dataclass(slots=True)
class Sent:
    """A message of a conversation as its recipient saw it: what replies quote and reference."""

    direction: str
    wire_id: str
    refs: list[str]
    subject: str
    own_text: str
    ts: int
    from_name: str
    from_addr: str
    reply_to: str | None = None


@dataclass(slots=True)
class Thread:
    plan: Plan
    customer: Customer
    topic: text.Topic
    ctx: dict[str, str]
    public: str
    agent: str
    first_kind: str
    guid: bytes | None
    history: list[Sent] = field(default_factory=list)


class Clock:
    """Samples send times: weekdays busier than weekends, office hours busier than nights."""

    def __init__(self, t0: int, days: int, zone: str) -> None:
        self.t0, self.days, self.zone = t0, days, zone
        weights = []
        for d in range(days):
            wd = time.gmtime(t0 + d * 86400).tm_wday
            weights.append(1.0 if wd < 5 else (0.45 if wd == 5 else 0.3))
        self.day_cum = _cumulative(weights)
        self.hour_cum = _cumulative(_HOUR_WEIGHTS)

    def sample(self, rng: random.Random) -> int:
        day = rng.choices(range(self.days), cum_weights=self.day_cum)[0]
        hour = rng.choices(range(24), cum_weights=self.hour_cum)[0]
        noon = self.t0 + day * 86400 + 43200
        midnight_local = self.t0 + day * 86400 - mime.utc_offset(self.zone, noon) * 60
        ts = midnight_local + hour * 3600 + rng.randrange(3600)
        return max(ts, self.t0 + rng.randrange(60, 3600))


def _cumulative(weights: list[float] | tuple[float, ...]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def business(ts: int, zone: str, rng: random.Random) -> int:
    """Move an agent's send time into office hours (08–21 local, no Sundays)."""
    off = mime.utc_offset(zone, ts) * 60
    local = time.gmtime(ts + off)
    if local.tm_hour < 8:
        ts = ts - (local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec) + 8 * 3600 + rng.randrange(7200)
    elif local.tm_hour >= 21:
        ts = ts - (local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec) + 32 * 3600 + rng.randrange(7200)
    if time.gmtime(ts + off).tm_wday == 6:
        ts += 86400
    return ts


def _iso(ts: int) -> str:
    return mime.iso_ms(ts * 1000)[:-5] + "Z"


def _att_truth(a: Attachment) -> dict[str, object]:
    ok = not a.bad_base64
    # A forwarded message's final CRLF is the one before the next boundary, which belongs to
    # the boundary delimiter (RFC 2046 §5.1.1), so it is not part of the attachment.
    data = a.data.removesuffix(b"\r\n") if a.rfc822 else a.data
    return {
        "filename": a.filename,
        "content_type": a.content_type,
        "size": len(data) if ok else None,
        "sha256": hashlib.sha256(data).hexdigest() if ok else None,
        "disposition": "inline" if a.content_id else "attachment",
        "content_id": a.content_id,
    }


class Generator:
    """One archive generation run (state shared by the phases)."""

    def __init__(
        self,
        dest: Path,
        tenants: int,
        days: int,
        seed: int,
        start: date,
        messages_per_day: int | None,
        tracking_secret: str,
    ) -> None:
        self.dest = Path(dest)
        self.tracking_secret = tracking_secret
        self.days = days
        self.seed = seed
        self.rng = random.Random(f"seslake/{seed}/mail")
        self.tenants = build_tenants(tenants, random.Random(f"seslake/{seed}/tenants"))
        self.t0 = calendar.timegm(start.timetuple())
        self.t_end = self.t0 + days * 86400
        qrng = random.Random(f"seslake/{seed}/quota")
        self.mpd = [
            messages_per_day if messages_per_day is not None else (34 if i == 0 else qrng.randrange(20, 41))
            for i in range(len(self.tenants))
        ]
        self.quota = [m * days for m in self.mpd]
        self.pool = BlobPool(random.Random(f"seslake/{seed}/blobs"))
        self.selector = "".join(random.Random(f"seslake/{seed}/sel").choices("abcdefghijklmnopqrstuvwxyz234567", k=32))
        self.truth: list[bytes | dict[str, object]] = []
        """Ground-truth rows in object order: inbound rows serialized at once, outbound rows (dicts)
        completed with their events in phase 4."""
        self.metas: list[OutboundMeta] = []
        self.out_rows: list[dict[str, object]] = []
        self.inbound_objects = 0
        self.bytes = 0
        self.used_subjects: set[tuple[str, str]] = set()
        self.customers: dict[str, list[Customer]] = {t.id: [] for t in self.tenants}
        self.special_no = 0
        self.dirs: set[Path] = set()

    # ------------------------------------------------------------------ I/O
    def write(self, rel: str, data: bytes, mtime: int) -> None:
        path = self.dest / rel
        if path.parent not in self.dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.dirs.add(path.parent)
        with open(path, "wb") as fh:
            fh.write(data)
        os.utime(path, (mtime, mtime))
        self.bytes += len(data)

    # ------------------------------------------------------------------ phase 1
    def plan_tenant(self, ti: int, normal_quota: int) -> list[Plan]:
        t = self.tenants[ti]
        rng = self.rng
        clock = Clock(self.t0, self.days, t.zone)
        plans: list[Plan] = []
        count = 0
        while count < normal_quota:
            start = clock.sample(rng)
            steps = [s for s in self.sample_steps(rng, t, start) if s.ts < self.t_end]
            ins = [i for i, s in enumerate(steps) if s.direction == "in"]
            room = normal_quota - count
            if len(ins) > room:
                steps = steps[: ins[room - 1] + 1]
                ins = ins[:room]
            count += len(ins)
            plans.append(Plan(t, start, steps))
        plans.sort(key=lambda p: p.start)
        for k, p in enumerate(plans, start=1):
            p.label = f"{t.id}-{k:05d}"
            p.case_no = 1000 + k
        return plans

    def sample_steps(self, rng: random.Random, t: Tenant, start: int) -> list[Step]:
        steps = [Step("in", start)]
        ts = start
        answered = 0
        while len(steps) < 6:
            last = steps[-1]
            if last.direction == "in":
                if len(steps) == 1 and rng.random() < 0.07:
                    ts += rng.randrange(20 * 3600, 60 * 3600)
                    steps.append(Step("in", ts))
                    continue
                if rng.random() >= 0.93:
                    break
                r = rng.random()
                delay = (
                    rng.randrange(600, 5400)
                    if r < 0.4
                    else (rng.randrange(7200, 28800) if r < 0.8 else rng.randrange(43200, 172800))
                )
                ts = business(ts + delay, t.zone, rng)
                r = rng.random()
                fate = "bounce" if r < t.bounce_rate else ("reject" if r < t.bounce_rate + 0.002 else "delivered")
                steps.append(Step("out", ts, fate))
                answered += 1
                if fate != "delivered":
                    break
            else:
                if rng.random() >= (0.55, 0.4, 0.25, 0.15)[min(answered - 1, 3)]:
                    break
                r = rng.random()
                ts += (
                    rng.randrange(300, 3600)
                    if r < 0.3
                    else (rng.randrange(3600, 43200) if r < 0.7 else rng.randrange(43200, 259200))
                )
                steps.append(Step("in", ts))
        if steps[-1].direction == "out" and steps[-1].fate == "delivered" and rng.random() < 0.04:
            steps.append(Step("survey", business(ts + 86400 + rng.randrange(21600), t.zone, rng)))
        return steps

    # ------------------------------------------------------------------ phase 2
    def plan_specials(self) -> list[tuple[str, int, int]]:
        rng = random.Random(f"seslake/{self.seed}/specials")
        total = sum(self.quota)
        out: list[tuple[str, int, int]] = []
        multi = [i for i, t in enumerate(self.tenants) if len(t.public_addresses) > 1]
        for kind, rate in SPECIAL_RATES.items():
            n = max(1, round(rate * total)) if total >= 400 else int(rate * total + rng.random())
            for _ in range(n):
                pool = multi if kind == "duplicate_delivery" else list(range(len(self.tenants)))
                if not pool:
                    break
                ti = rng.choices(pool, weights=[self.quota[i] for i in pool])[0]
                clock = Clock(self.t0, self.days, self.tenants[ti].zone)
                out.append((kind, ti, clock.sample(rng)))
        # never take more than a tenant's quota
        used = [0] * len(self.tenants)
        kept = []
        for kind, ti, ts in out:
            cost = 2 if kind == "duplicate_delivery" else 1
            if used[ti] + cost <= self.quota[ti] // 2:
                used[ti] += cost
                kept.append((kind, ti, ts))
        return kept

    # ------------------------------------------------------------------ phase 3: conversations
    def new_thread(self, plan: Plan) -> Thread:
        rng = self.rng
        t = plan.tenant
        pool = self.customers[t.id]
        if pool and rng.random() < 0.12:
            c = rng.choice(pool)
        else:
            c = make_customer(rng, t)
            pool.append(c)
        topic = rng.choice(text.topics_for(c.lang))
        lt = time.gmtime(plan.start)
        ctx = text.thread_context(
            rng, c.lang, t.industry, t.name, lt.tm_mon, lt.tm_mday, lt.tm_year, f"{c.first} {c.last}"
        )
        public = t.public_addresses[0] if rng.random() < 0.75 else rng.choice(t.public_addresses)
        r = rng.random()
        if r < 0.03:
            first_kind = "webform"
        elif r < 0.07:
            first_kind = "forward"
        elif c.client == "outlook" and not c.corporate and rng.random() < 0.12:
            first_kind = "html_only"
        else:
            first_kind = "plain"
        guid = rng.randbytes(16) if c.client == "outlook" else None
        return Thread(plan, c, topic, ctx, public, rng.choice(t.agents), first_kind, guid)

    def render_plan(self, plan: Plan) -> None:
        th = self.new_thread(plan)
        n_steps = len(plan.steps)
        for i, step in enumerate(plan.steps):
            if step.direction == "in":
                sent = self.customer_first(th, step) if i == 0 else self.customer_reply(th, step)
            elif step.direction == "out":
                sent = self.agent_reply(th, step, final=i == n_steps - 1)
            else:
                sent = self.survey(th, step)
            th.history.append(sent)

    def to_header_for(self, th: Thread) -> list[tuple[str, str]]:
        r = self.rng.random()
        if r < 0.6:
            return [("", th.public)]
        return [(th.plan.tenant.name if r < 0.85 else th.public.split("@")[0].capitalize(), th.public)]

    def unique_subject(self, c: Customer, th: Thread) -> str:
        for _ in range(6):
            subj = subject_first(self.rng, c, th.topic, th.ctx)
            key = (c.address, subj.lower())
            if key not in self.used_subjects:
                break
        else:
            subj = f"{subj} ({th.ctx['n']})"
            key = (c.address, subj.lower())
        self.used_subjects.add(key)
        return subj

    def customer_first(self, th: Thread, step: Step) -> Sent:
        rng = self.rng
        c, t, ts = th.customer, th.plan.tenant, step.ts
        off = mime.utc_offset(c.zone, ts)
        smart = c.client == "outlook" and rng.random() < 0.4
        attachments: list[Attachment] = []
        traits: list[str] = []
        kind = "plain"
        logo = company_logo(c.domain) if c.corporate and c.client == "outlook" and rng.random() < 0.6 else None
        html = (
            c.client in ("gmail", "outlook", "yahoo", "zimbra")
            or (c.client == "apple" and not c.mobile)
            or (c.client == "thunderbird" and rng.random() < 0.4)
        )
        if th.first_kind == "webform":
            return self.webform_first(th, step)
        if th.first_kind == "forward":
            n_subject, n_text, n_raw = notification(rng, t, c, th.ctx, ts - rng.randrange(3600, 5 * 86400))
            subject = forward_subject(c.client, c.ui_lang, n_subject)
            self.used_subjects.add((c.address, subject.lower()))
            es = text.lang_base(c.lang) == "es"
            note = (
                "Les reenvío el correo que me llegó. ¿Es correcto?"
                if es
                else "Encaminho o e-mail que recebi. Está correto?"
            )
            body = f"{rng.choice(text.GREETINGS[c.lang])}\n\n{note}\n\n{rng.choice(text.CLOSINGS[c.lang])}\n{c.first}"
            if c.client in ("outlook", "thunderbird", "zimbra"):
                attachments.append(Attachment(f"{n_subject}.eml", "message/rfc822", n_raw, rfc822=True))
                traits.append("rfc822")
            else:
                sender = f"notificaciones@{t.domain}" if es else f"notificacoes@{t.domain}"
                body += "\n\n" + inline_forward_block(c, t.name, sender, n_subject, ts - 86400, n_text.rstrip("\n"))
                traits.append("inline_forward")
            kind = "forwarded"
            text_ = body
        else:
            subject = self.unique_subject(c, th)
            attached = rng.random() < 0.33
            text_ = first_text(rng, c, th.topic, th.ctx, smart, attached)
            if attached:
                attachments = [
                    make_attachment(rng, self.pool, n) for n in pick_filenames(rng, th.topic, th.ctx, c.lang)
                ]
                kind = "attachment"
            if th.first_kind == "html_only":
                kind = "html_only"
        msgid = message_id_for(c.client, rng, c.domain, ts)
        tindex = thread_index(rng, th.plan.start, th.guid, 0) if th.guid else None
        draft = draft_for(
            c,
            to=self.to_header_for(th),
            subject=subject,
            text=text_,
            date_ts=ts,
            offset=off,
            message_id=msgid,
            attachments=attachments,
            logo=logo,
            html=html,
            html_only=th.first_kind == "html_only",
            thread_index=tindex,
            thread_topic=subject if th.guid else None,
        )
        rendered = render(draft, rng)
        d = self.deliver_forwarded(rendered, c, th.public, ts)
        self.emit_inbound(d, th, kind, traits + rendered.traits, draft, rendered)
        return Sent("in", msgid, [], subject, text_, ts, c.display or c.address, c.address)

    def webform_first(self, th: Thread, step: Step) -> Sent:
        rng = self.rng
        c, t, ts = th.customer, th.plan.tenant, step.ts
        es = text.lang_base(t.lang) == "es"
        subject_core = self.unique_subject(c, th)
        subject = (
            f"Nuevo mensaje desde el formulario web: {subject_core}"
            if es
            else f"Nova mensagem do formulário do site: {subject_core}"
        )
        title = "Nuevo mensaje de contacto" if es else "Nova mensagem de contato"
        message = (
            text.fill(rng.choice(th.topic.openings), rng, th.ctx)
            + " "
            + text.fill(rng.choice(th.topic.asks), rng, th.ctx)
        )
        name = f"{c.first} {c.last}"
        esc = mime.html_escape
        html = (
            f"<html><body><h2>{title}</h2><p><b>{'Nombre' if es else 'Nome'}:</b> {esc(name)}</p>"
            f"<p><b>Email:</b> {esc(c.address)}</p><p><b>{'Teléfono' if es else 'Telefone'}:</b> "
            f"+54 9 351 {rng.randrange(1000000, 9999999)}</p><p><b>{'Mensaje' if es else 'Mensagem'}:</b></p>"
            f"<p>{esc(message)}</p></body></html>\n"
        )
        sender = f"noreply@{t.domain}"
        msgid = f"{hexstr(rng, 32)}@{t.domain}"
        cte = "quoted-printable" if rng.random() < 0.7 else "base64"
        headers = [
            "Date: " + mime.rfc2822(ts, mime.utc_offset(t.zone, ts)),
            f"To: {th.public}",
            "From: " + mime.format_address("Formulario web" if es else "Formulário do site", sender),
            "Reply-To: " + mime.format_address(name, c.address, "UTF-8", "Q"),
            "Subject: " + mime.encode_unstructured(subject, "UTF-8", "Q"),
            f"Message-ID: <{msgid}>",
            "X-Mailer: PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)",
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=UTF-8",
            f"Content-Transfer-Encoding: {cte}",
        ]
        rendered = Rendered(
            headers,
            mime.encode_body(html, "UTF-8", cte),
            None,
            title,
            "UTF-8",
            cte,
            ["client:webform", "html_only", "webform"],
        )
        d = self.deliver_forwarded(rendered, None, th.public, ts, sender=sender)
        draft = Draft(
            client="webform",
            lang=t.lang,
            from_name="",
            from_addr=sender,
            to=[("", th.public)],
            subject=subject,
            text="",
            date_ts=ts,
            offset=0,
            message_id=msgid,
        )
        self.emit_inbound(d, th, "html_only", rendered.traits, draft, rendered)
        return Sent("in", msgid, [], subject, message, ts, name, c.address)

    def customer_reply(self, th: Thread, step: Step) -> Sent:
        rng = self.rng
        c, ts = th.customer, step.ts
        prev = th.history[-1]
        bump = prev.direction == "in"
        quote = None
        if rng.random() < 0.9:
            quote = quote_for(c, prev.ts, prev.from_name, prev.from_addr, prev.subject, prev.own_text)
        attached = not bump and rng.random() < 0.18
        body = reply_text(rng, c, th.topic, th.ctx, quote, attached, bump)
        attachments = (
            [make_attachment(rng, self.pool, n) for n in pick_filenames(rng, th.topic, th.ctx, c.lang)]
            if attached
            else []
        )
        subject = reply_subject(c.client, c.ui_lang, prev.subject)
        irt: str | None = prev.wire_id
        refs = (prev.refs + [prev.wire_id])[-12:]
        traits: list[str] = []
        kind = "reply"
        if c.client == "outlook":
            kind = "outlook_reply"
            r = rng.random()
            if r < 0.65:
                refs = []
                traits.append("no_references")
            elif r < 0.85:
                refs, irt = [], None
                traits += ["no_references", "no_in_reply_to"]
        if bump:
            traits.append("bump")
        direct_to = prev.reply_to if prev.direction == "out" and prev.reply_to else None
        public = th.public
        to = [("", direct_to)] if direct_to else self.to_header_for(th)
        msgid = message_id_for(c.client, rng, c.domain, ts)
        tindex = thread_index(rng, th.plan.start, th.guid, len(th.history)) if th.guid else None
        draft = draft_for(
            c,
            to=to,
            subject=subject,
            text=body,
            date_ts=ts,
            offset=mime.utc_offset(c.zone, ts),
            message_id=msgid,
            attachments=attachments,
            in_reply_to=irt,
            references=refs,
            html=c.client != "thunderbird" and not (c.client == "apple" and c.mobile),
            thread_index=tindex,
            thread_topic=th.history[0].subject if th.guid else None,
        )
        rendered = render(draft, rng)
        if direct_to:
            d = deliver(
                rng,
                rendered,
                sender=c.address,
                client=c.client,
                corporate=c.corporate,
                mode="direct",
                rcpt=direct_to,
                public=None,
                ts=ts,
                selector=self.selector,
            )
            traits.append("case_address")
        else:
            d = self.deliver_forwarded(rendered, c, public, ts)
        self.emit_inbound(d, th, kind, traits + rendered.traits, draft, rendered)
        return Sent(
            "in",
            msgid,
            (refs if refs else prev.refs + [prev.wire_id])[-12:],
            subject,
            body.split("\n\n" + quote)[0] if quote else body,
            ts,
            c.display or c.address,
            c.address,
        )

    def deliver_forwarded(
        self,
        rendered: Rendered,
        c: Customer | None,
        public: str,
        ts: int,
        sender: str | None = None,
        *,
        spam: str = "PASS",
        virus: str = "PASS",
        auth_fail: bool = False,
        header_encoding: str = "ascii",
    ) -> Delivered:
        """Deliver a message sent to a tenant's public address through the tenant's forwarder."""
        t = self.tenant_of_public(public)
        return deliver(
            self.rng,
            rendered,
            sender=sender or (c.address if c else ""),
            client=c.client if c else "thunderbird",
            corporate=c.corporate if c else True,
            mode=t.provider,
            rcpt=t.inbound_for(public),
            public=public,
            ts=ts,
            selector=self.selector,
            spam=spam,
            virus=virus,
            auth_fail=auth_fail,
            header_encoding=header_encoding,
            ms_loop=t.provider == "microsoft" and self.rng.random() < 0.15,
        )

    def tenant_of_public(self, public: str) -> Tenant:
        for t in self.tenants:
            if public in t.public_addresses:
                return t
        raise KeyError(public)

    def emit_inbound(
        self,
        d: Delivered,
        th: Thread | None,
        kind: str,
        traits: list[str],
        draft: Draft,
        rendered: Rendered,
        *,
        tenant_id: str | None | bool = True,
        subject: str | None | bool = True,
        first_line: str | None | bool = True,
        date_ok: bool = True,
        to: list[str] | None = None,
        label: str | None = None,
        spam: str = "PASS",
        virus: str = "PASS",
        attachments: list[dict[str, object]] | None = None,
    ) -> None:
        key = f"inbound/{d.ses_id}"
        self.write(key, d.raw, d.receipt_ts)
        self.inbound_objects += 1
        atts = (
            attachments
            if attachments is not None
            else (
                ([_att_truth(draft.logo)] if draft.logo and "inline_image" in rendered.traits else [])
                + [_att_truth(a) for a in draft.attachments]
            )
        )
        self.add_truth(
            {
                "key": key,
                "direction": "inbound",
                "tenant_id": (th.plan.tenant.id if th else None) if tenant_id is True else tenant_id,
                "kind": kind,
                "traits": sorted(set(traits)),
                "message_id": draft.message_id or None,
                "ses_message_id": d.ses_id,
                "subject": draft.subject if subject is True else subject,
                "body_first_line": (text.first_line(rendered.text) if rendered.text is not None else None)
                if first_line is True
                else first_line,
                "html_first_text": rendered.html_first_text,
                "thread": label if label is not None else (th.plan.label if th else None),
                "attachments": atts,
                "from": draft.from_addr,
                "to": to if to is not None else [a for _, a in draft.to] + [a for _, a in draft.cc],
                "envelope_recipient": d.envelope_rcpt,
                "forwarder": d.forwarder,
                "date": _iso(draft.date_ts) if date_ok else None,
                "received_at": _iso(d.receipt_ts),
                "spam_verdict": spam,
                "virus_verdict": virus,
                "in_reply_to": draft.in_reply_to,
                "references": list(draft.references),
                "size": len(d.raw),
            }
        )

    # ------------------------------------------------------------------ phase 3: agents
    def agent_reply(self, th: Thread, step: Step, final: bool) -> Sent:
        rng = self.rng
        c, t = th.customer, th.plan.tenant
        prev = th.history[-1]
        send_ms = step.ts * 1000 + rng.randrange(1000)
        ses_id = ses_outbound_id(rng, send_ms, t.region)
        tl = mime.local_parts(prev.ts, mime.utc_offset(t.zone, prev.ts))
        quoted = "\n".join(("> " + ln) if ln else ">" for ln in prev.own_text.split("\n")[:14])
        lang = agent_language(t, c.lang)
        pt = lang == "pt-BR"
        when = (
            f"{tl.tm_mday:02d}/{tl.tm_mon:02d}/{tl.tm_year} {'às' if pt else 'a las'} {tl.tm_hour:02d}:{tl.tm_min:02d}"
        )
        attribution = (
            f"{'Em' if pt else 'El'} {when}, {prev.from_name} <{prev.from_addr}> {'escreveu' if pt else 'escribió'}:"
        )
        first = c.first if c.display else ""
        if text.lang_base(lang) == text.lang_base(t.lang):
            agent = th.agent
        else:
            agent = text.AGENTS[lang][th.plan.case_no % len(text.AGENTS[lang])]
        plain, html, links = agent_texts(
            rng, t, lang, agent, first, th.topic, th.ctx, attribution + "\n" + quoted, th.plan.case_no
        )
        subject = service_reply_subject(prev.subject)
        refs = (prev.refs + [prev.wire_id])[-10:]
        tindex = thread_index(rng, th.plan.start, th.guid, len(th.history)) if th.guid else None
        attach = None
        if rng.random() < 0.12:
            attach = rng.choice(
                (
                    "Instructivo.pdf",
                    f"Factura {th.ctx['factura']}.pdf",
                    "Comprobante de reintegro.pdf",
                    "Condiciones del servicio.pdf",
                )
                if not pt
                else ("Instruções.pdf", f"Nota fiscal nº {th.ctx['n']}.pdf", "Comprovante de estorno.pdf")
            )
        built = build(
            rng,
            self.pool,
            index=len(self.metas),
            tenant=t,
            ses_id=ses_id,
            send_ts=step.ts,
            send_ms=send_ms,
            public=th.public,
            to=[(c.display, c.address)],
            subject=subject,
            plain=plain,
            html=html,
            links=links,
            in_reply_to=prev.wire_id,
            references=refs,
            case_no=th.plan.case_no,
            kinds=[recipient_kind(c)],
            survey=False,
            fate=step.fate,
            final=final,
            thread_index=tindex,
            thread_topic=th.history[0].subject,
            with_reply_to=rng.random() < 0.12,
            attach=attach,
            tracking_secret=self.tracking_secret,
        )
        self.emit_outbound(built, th, "reply", subject, plain, in_reply_to=prev.wire_id, refs=refs)
        own = plain.split("\n\n" + attribution)[0]
        return Sent(
            "out",
            wire_id(ses_id, t.region),
            refs,
            subject,
            own,
            step.ts,
            f"{text.SUPPORT_WORD[t.lang]} {t.name}",
            th.public,
            built.reply_to,
        )

    def survey(self, th: Thread, step: Step) -> Sent:
        rng = self.rng
        c, t = th.customer, th.plan.tenant
        send_ms = step.ts * 1000 + rng.randrange(1000)
        ses_id = ses_outbound_id(rng, send_ms, t.region)
        title, plain, html, links = survey_texts(
            t, agent_language(t, c.lang), c.first if c.display else "", th.plan.case_no
        )
        refs = [th.history[0].wire_id, th.history[-1].wire_id]
        built = build(
            rng,
            self.pool,
            index=len(self.metas),
            tenant=t,
            ses_id=ses_id,
            send_ts=step.ts,
            send_ms=send_ms,
            public=th.public,
            to=[(c.display, c.address)],
            subject=title,
            plain=plain,
            html=html,
            links=links,
            in_reply_to=None,
            references=refs,
            case_no=th.plan.case_no,
            kinds=[recipient_kind(c)],
            survey=True,
            fate="delivered",
            final=True,
            thread_index=None,
            thread_topic=None,
            with_reply_to=False,
            attach=None,
            tracking_secret=self.tracking_secret,
        )
        self.emit_outbound(built, th, "survey", title, plain, in_reply_to=None, refs=refs)
        return Sent("out", wire_id(ses_id, t.region), refs, title, plain, step.ts, t.name, th.public)

    def emit_outbound(
        self, built: object, th: Thread, kind: str, subject: str, plain: str, in_reply_to: str | None, refs: list[str]
    ) -> None:

        assert isinstance(built, Built)
        m = built.meta
        t = th.plan.tenant
        key = f"outbound/{t.id}/{m.ses_id}.eml"
        self.write(key, built.raw, m.send_ms // 1000)
        self.metas.append(m)
        row: dict[str, object] = {
            "key": key,
            "direction": "outbound",
            "tenant_id": t.id,
            "kind": kind,
            "campaign": m.tags.get(CAMPAIGN_TAG, [None])[0],
            "traits": sorted(
                {
                    f"attribution:{built.attribution}",
                    f"region:{t.region}",
                    "ses_message_id_header"
                    if built.message_id == wire_id(m.ses_id, t.region)
                    else "presend_message_id",
                }
                | ({"reply_to_case"} if built.reply_to else set())
                | ({"thread_index"} if th.guid and kind == "reply" else set())
            ),
            "message_id": built.message_id,
            "ses_message_id": m.ses_id,
            "wire_message_id": wire_id(m.ses_id, t.region),
            "subject": subject,
            "body_first_line": text.first_line(plain),
            "html_first_text": None,
            "thread": th.plan.label,
            "attachments": [_att_truth(a) for a in built.attachments],
            "from": m.from_addr,
            "to": list(m.to),
            "envelope_recipient": None,
            "forwarder": None,
            "date": _iso(m.send_ms // 1000),
            "received_at": None,
            "attribution": built.attribution,
            "configuration_set": m.configuration_set,
            "region": t.region,
            "reply_to": built.reply_to,
            "in_reply_to": in_reply_to,
            "references": refs,
            "fate": m.fate,
            "events": {},
            "size": len(built.raw),
        }
        self.truth.append(row)
        self.out_rows.append(row)

    # ------------------------------------------------------------------ phase 3: awkward objects
    def render_special(self, kind: str, ti: int, ts: int) -> None:
        rng = self.rng
        t = self.tenants[ti]
        self.special_no += 1
        label = f"{t.id}-x{self.special_no:04d}"
        if kind == "empty":
            self.emit_raw(b"", ts, kind)
            return
        if kind == "junk":
            self.emit_raw(junk_bytes(rng), ts, kind)
            return
        plan = Plan(t, ts, [Step("in", ts)], label=label, case_no=0)
        th = self.new_thread(plan)
        th.first_kind = "plain"
        c = th.customer
        off = mime.utc_offset(c.zone, ts)
        if kind == "spam":
            self.spam(th, ts, label)
            return
        if kind == "unattributable":
            self.unattributable(th, ts)
            return
        subject = self.unique_subject(c, th)
        attachments: list[Attachment] = []
        client_override = None
        if kind in ("malformed_truncated_multipart", "malformed_bad_base64", "virus"):
            if kind == "virus":
                subject = rng.choice(text.VIRUS_SUBJECTS)
                data = self.pool.take(rng, "zip", rng.randrange(20_000, 200_000))
                attachments = [Attachment(f"Factura_{th.ctx['n']}.zip", "application/zip", data)]
            else:
                attachments = [
                    make_attachment(rng, self.pool, n) for n in pick_filenames(rng, th.topic, th.ctx, c.lang)
                ]
                if kind == "malformed_bad_base64":
                    attachments[-1].bad_base64 = True
        if kind == "malformed_unknown_charset":
            client_override = "thunderbird"
        if kind == "malformed_8bit_header":
            subject = ("Atención: " if text.lang_base(c.lang) == "es" else "Atenção: ") + subject
            subject = "".join(ch for ch in subject if mime.can_encode(ch, "iso-8859-1"))
        if client_override:
            c = Customer(
                c.first, c.last, c.display, c.address, c.lang, client_override, c.corporate, False, c.ui_lang, c.zone
            )
        body = first_text(rng, c, th.topic, th.ctx, False, bool(attachments))
        if kind == "malformed_unknown_charset":
            ascii_greet = (
                rng.choice(("Buenas tardes,", "Buenos dias,", "Hola,", "Estimados:"))
                if text.lang_base(c.lang) == "es"
                else rng.choice(("Boa tarde,", "Bom dia,", "Prezados,", "Ola,"))
            )
            body = ascii_greet + body[body.index("\n") :]
            body = "".join(ch for ch in body if mime.can_encode(ch, "iso-8859-1"))
        msgid = message_id_for(c.client, rng, c.domain, ts)
        draft = draft_for(
            c,
            to=[("", th.public)],
            subject=subject,
            text=body,
            date_ts=ts,
            offset=off,
            message_id=msgid,
            attachments=attachments,
            html=kind != "malformed_unknown_charset" and c.client != "thunderbird",
        )
        rendered = render(draft, rng)
        traits = list(rendered.traits)
        date_ok = True
        header_encoding = "ascii"
        truth_subject: str | None | bool = True
        to_truth: list[str] | None = None
        spam, virus = "PASS", "PASS"
        if kind == "malformed_missing_date":
            rendered.headers = replace_header(rendered.headers, "Date", None)
            date_ok = False
        elif kind == "malformed_bad_date":
            rendered.headers = replace_header(rendered.headers, "Date", rng.choice(BAD_DATES))
            date_ok = False
        elif kind == "malformed_truncated_multipart":
            rendered.body = drop_closing_boundary(rendered.body)
        elif kind == "malformed_unknown_charset":
            rendered.headers = replace_header(rendered.headers, "Content-Type", 'text/plain; charset="x-unknown-8bit"')
            rendered.body = mime.encode_body(body, "iso-8859-1", "8bit")
            traits.append("charset:x-unknown-8bit")
        elif kind == "malformed_huge_header":
            rendered.headers = replace_header(rendered.headers, "To", huge_to(rng, th.public))
            to_truth = []
        elif kind == "malformed_huge_references":
            refs = huge_references(rng)
            rendered.headers.insert(1, "References: " + refs)
            rendered.headers.insert(2, "In-Reply-To: " + refs.rsplit(" ", 1)[-1])
        elif kind == "malformed_8bit_header":
            header_encoding = "utf-8" if rng.random() < 0.6 else "latin-1"
            rendered.headers = replace_header(rendered.headers, "Subject", subject)
            if c.display and not c.display.isascii():
                rendered.headers = replace_header(rendered.headers, "From", f"{c.display} <{c.address}>")
            traits.append(f"raw_{header_encoding.replace('-', '')}_header")
            if header_encoding == "latin-1":
                truth_subject = None
        elif kind == "virus":
            virus = "FAIL"
        d = self.deliver_forwarded(rendered, c, th.public, ts, header_encoding=header_encoding, virus=virus, spam=spam)
        self.emit_inbound(
            d,
            th,
            kind,
            traits,
            draft,
            rendered,
            subject=truth_subject,
            date_ok=date_ok,
            to=to_truth,
            spam=spam,
            virus=virus,
            label=label,
        )
        if kind == "duplicate_delivery":
            others = [p for p in t.public_addresses if p != th.public]
            second = others[0]
            d2 = self.deliver_forwarded(rendered, c, second, ts)
            self.emit_inbound(d2, th, kind, traits, draft, rendered, label=label)

    def add_truth(self, row: dict[str, object]) -> None:
        self.truth.append(orjson.dumps(row) + b"\n")

    def emit_raw(self, data: bytes, ts: int, kind: str) -> None:
        ses_id = ses_inbound_id(self.rng)
        key = f"inbound/{ses_id}"
        self.write(key, data, ts)
        self.inbound_objects += 1
        self.add_truth(
            {
                "key": key,
                "direction": "inbound",
                "tenant_id": None,
                "kind": kind,
                "traits": [],
                "message_id": None,
                "ses_message_id": ses_id,
                "subject": None,
                "body_first_line": None,
                "html_first_text": None,
                "thread": None,
                "attachments": [],
                "from": None,
                "to": [],
                "envelope_recipient": None,
                "forwarder": None,
                "date": None,
                "received_at": _iso(ts),
                "spam_verdict": None,
                "virus_verdict": None,
                "in_reply_to": None,
                "references": [],
                "size": len(data),
            }
        )

    def spam(self, th: Thread, ts: int, label: str) -> None:
        rng = self.rng
        sender = f"{rng.choice(('promo', 'ofertas', 'info', 'newsletter', 'premios'))}@{rng.choice(_SPAM_DOMAINS)}"
        subject = rng.choice(text.SPAM_SUBJECTS).format(n=rng.randrange(1000, 99999))
        body = rng.choice(text.SPAM_BODIES) + "\n\nhttps://premio.example.net/reclamar?id=" + hexstr(rng, 12)
        client = rng.choice(("gmail", "outlook"))
        c = Customer("Atención", "Clientes", "Atención Clientes", sender, "es-AR", client, False, False, "es", "AR")
        draft = draft_for(
            c,
            to=[("", th.public)],
            subject=subject,
            text=body,
            date_ts=ts,
            offset=0,
            message_id=f"{hexstr(rng, 24)}@{sender.split('@')[1]}",
            html_only=True,
        )
        rendered = render(draft, rng)
        d = self.deliver_forwarded(rendered, c, th.public, ts, spam="FAIL", auth_fail=True)
        self.emit_inbound(d, th, "spam", rendered.traits, draft, rendered, spam="FAIL", label=label)

    def unattributable(self, th: Thread, ts: int) -> None:
        rng = self.rng
        rcpt = unknown_inbound(rng, self.tenants)
        c = th.customer
        subject = rng.choice(
            ("Prueba", "Consulta", "Test de reenvío", "Factura", "Solicitud de información", "Teste", "Documentos")
        )
        body = first_text(rng, c, th.topic, th.ctx, False, False)
        msgid = message_id_for(c.client, rng, c.domain, ts)
        draft = draft_for(
            c,
            to=[("", rcpt)],
            subject=subject,
            text=body,
            date_ts=ts,
            offset=mime.utc_offset(c.zone, ts),
            message_id=msgid,
            html=c.client == "gmail",
        )
        rendered = render(draft, rng)
        d = deliver(
            rng,
            rendered,
            sender=c.address,
            client=c.client,
            corporate=c.corporate,
            mode="direct",
            rcpt=rcpt,
            public=None,
            ts=ts,
            selector=self.selector,
        )
        self.special_no += 1
        self.emit_inbound(
            d,
            th,
            "unattributable",
            rendered.traits,
            draft,
            rendered,
            tenant_id=None,
            label=f"unattributed-{self.special_no:04d}",
        )

    # ------------------------------------------------------------------ phase 4: events
    def events(self) -> ev.FirehoseResult:
        rng = random.Random(f"seslake/{self.seed}/events")
        metas = self.metas
        forced = ev.Forced()
        finals = [m for m in metas if m.final and m.fate == "delivered" and not m.survey]
        if finals and not any(m.fate == "reject" for m in metas):
            rng.choice(finals).fate = "reject"
        surveys = [m for m in metas if m.survey]
        if surveys:
            for m in rng.sample(surveys, k=max(1, round(len(surveys) * 0.08)) if len(surveys) > 1 else 0):
                m.fate = "render_fail"
            ok = [m for m in surveys if m.fate == "delivered"]
            if ok:
                forced.subscription.add(rng.choice(ok).index)
        delivered = [m for m in metas if m.fate == "delivered"]
        if delivered:
            forced.complaint.add(rng.choice(delivered).index)
            forced.delay.add(rng.choice(delivered).index)
        all_events: list[ev.Event] = []
        for m, row in zip(metas, self.out_rows, strict=True):
            evs = ev.plan_events(rng, m, forced, len(all_events))
            counts: dict[str, int] = {}
            by_day: dict[str, dict[str, int]] = {}
            for e in evs:
                counts[e.etype] = counts.get(e.etype, 0) + 1
                day = by_day.setdefault(time.strftime("%Y-%m-%d", time.gmtime(e.ms / 1000)), {})
                day[e.etype] = day.get(e.etype, 0) + 1
                if e.label:
                    day[f"{e.etype}:{e.label}"] = day.get(f"{e.etype}:{e.label}", 0) + 1
            row["events"] = counts
            row["events_by_day"] = by_day
            row["fate"] = m.fate
            all_events.extend(evs)
        outgoing = [f"192.0.2.{rng.randrange(1, 255)}" for _ in metas]
        cache = ev.MailCache(metas, outgoing)
        res = ev.write_firehose(self.dest, all_events, cache, rng) if all_events else ev.FirehoseResult()
        self.bytes += res.bytes
        by_type: dict[str, int] = {}
        by_tenant: dict[str, dict[str, int]] = {}
        labels: dict[str, int] = {}
        for e in all_events:
            by_type[e.etype] = by_type.get(e.etype, 0) + 1
            tid = metas[e.meta].tenant.id
            by_tenant.setdefault(tid, {})
            by_tenant[tid][e.etype] = by_tenant[tid].get(e.etype, 0) + 1
            if e.label:
                key = f"{e.etype}:{e.label.split(':')[0]}"
                labels[key] = labels.get(key, 0) + 1
        summary = {
            "record": "summary",
            "files": res.files,
            "gz_files": res.gz_files,
            "lines": res.lines,
            "event_lines": res.event_lines,
            "unique_events": len(all_events),
            "blank_lines": res.blank_lines,
            "duplicate_lines": sum(1 for r in res.truth if r["record"] == "duplicate"),
            "bad_lines": sum(1 for r in res.truth if r["record"] == "bad_line"),
            "late_files": res.late_files,
            "by_type": dict(sorted(by_type.items())),
            "by_tenant": {k: dict(sorted(v.items())) for k, v in sorted(by_tenant.items())},
            "opens_clicks_by_source": dict(sorted(labels.items())),
            "scanner_networks": {name: net for name, net, _ in ev.SCANNERS},
            "apple_proxy_network": ev.APPLE_PROXY_NETWORK,
            "gmail_proxy_network": ev.GMAIL_PROXY_NETWORK,
        }
        self.events_truth = [summary] + res.truth
        return res

    # ------------------------------------------------------------------ run
    def run(self, on_step: Callable[[str], None] = lambda step: None) -> GenerationSummary:
        """Generate everything; `on_step` is told each step done (`tenant <id>` once per tenant, then `events`)."""
        started = time.perf_counter()
        self.dest.mkdir(parents=True, exist_ok=True)
        specials = self.plan_specials()
        for ti in range(len(self.tenants)):
            mine = [(k, ts) for k, i, ts in specials if i == ti]
            cost = sum(2 if k == "duplicate_delivery" else 1 for k, _ in mine)
            for plan in self.plan_tenant(ti, self.quota[ti] - cost):
                self.render_plan(plan)
            for kind, ts in mine:
                self.render_special(kind, ti, ts)
            on_step(f"tenant {self.tenants[ti].id}")
        res = self.events()
        on_step("events")
        reg = registry_yaml(self.tenants)
        self.write("tenants.yaml", reg, self.t0)
        truth = b"".join(r if isinstance(r, bytes) else orjson.dumps(r) + b"\n" for r in self.truth)
        self.write("_truth/messages.jsonl", truth, self.t_end)
        self.write("_truth/events.jsonl", b"".join(orjson.dumps(r) + b"\n" for r in self.events_truth), self.t_end)
        return GenerationSummary(
            dest=self.dest,
            tenants=len(self.tenants),
            inbound_objects=self.inbound_objects,
            outbound_objects=len(self.metas),
            event_files=res.files,
            event_lines=res.event_lines,
            bytes_written=self.bytes,
            seconds=round(time.perf_counter() - started, 3),
        )


def generate_archive(
    dest: Path,
    tenants: int = 3,
    days: int = 30,
    seed: int = 7,
    start: date = date(2026, 10, 1),
    messages_per_day: int | None = None,
    tracking_secret: str = "",
    on_step: Callable[[str], None] = lambda step: None,
) -> GenerationSummary:
    """Write a deterministic, realistic SES archive (inbound, outbound, events, tenants, truth) under `dest`.

    `messages_per_day` is inbound messages per tenant per day (default: 20-40, varying by tenant); agents'
    replies and SES events come on top. The same arguments always produce the same bytes and mtimes.
    Agents' tracking Reply-To addresses are keyed with `tracking_secret` (`Settings.tracking_secret`; ''
    = the development key), which threading needs to honour them. `on_step` hears each step done: a tenant's
    mail (`tenant <id>`, one per tenant), then `events`.
    `dest` should be empty: objects with the same keys are overwritten, nothing else is removed. Events of
    the last days (complaints, late Firehose objects) may land a few days after `start + days`.
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    return Generator(Path(dest), tenants, days, seed, start, messages_per_day, tracking_secret).run(on_step)
