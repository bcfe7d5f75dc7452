"""A realistic support mailbox with the true thread of every message, to score thread reconstruction.

The cast (tenants, customers, their mail clients' headers, SES's receipt block, the reply service's
archived MIME) comes from the archive generator, so the files look like the bucket's. Conversations
are planned so that every situation the threader must handle occurs at a realistic rate:

* replies with full References (Gmail, Apple Mail, Thunderbird, Yahoo, Zimbra);
* Outlook replies with In-Reply-To only, or with neither and just a Thread-Index;
* replies from webmail and phones that drop both headers, with a localized prefix (`RE:`, `RES:`, `AW:`,
  `SV:`, `Antw:`, `R:`, `回复:` …);
* agents' answers whose archived Message-ID was replaced by SES (`<sesId>@email.amazonses.com`, or the
  eu-west-1 domain for that region's tenant), quoted by In-Reply-To-only replies;
* a new message written to a case tracking address (`case-<id>-<mac>@ses.omnibrein.com` or
  `<tenant>+case-<n>-<mac>@…`, keyed with the tracking secret) from an agent's Reply-To, with a new
  subject and no references;
* a first message that never reached the archive, answered (sometimes twice) all the same;
* a ticket gateway that references its own messages and loops two of them;
* old mailers that put an address in In-Reply-To (`<info@tenant>`, or `Your message of … <agent@…>`);
* one message delivered twice (identical copies of one Message-ID);
* web forms that reuse one Message-ID for every submission (clashing duplicates);
* generic subjects (`Consulta`, `Factura`, `Dúvida` …) written by different customers of one tenant the
  same week, and one customer writing the same subject to two tenants: these must never merge;
* strangers trying to attach mail to another customer's case, each its own conversation that must never
  merge with the victim's: a forged From (SPF/DKIM/DMARC failing) with the victim's subject (`Re: …`),
  case address and Outlook Thread-Index; mail to a guessed sequential case address
  (`<tenant>+case-<n>@…`) or to one with a forged token; and mail setting a victim's case address as
  its Reply-To before our answer does (the case address having leaked).

Agents answer the message in front of them the RFC 5322 way (In-Reply-To it, References its chain), as
a generic reply service does, so a message that arrived without references is answered without the
earlier conversation either.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from pipelines.generator import mime, text
from pipelines.generator.archive import Sent
from pipelines.generator.clients import Rendered, message_id_for, render, thread_index, uuid4
from pipelines.generator.inbound import (
    BlobPool,
    Customer,
    deliver,
    draft_for,
    first_text,
    make_customer,
    quote_for,
    replace_header,
    reply_subject,
    reply_text,
    subject_first,
)
from pipelines.generator.outbound import agent_language, agent_texts, build, recipient_kind, ses_outbound_id, wire_id
from pipelines.generator.outbound import reply_subject as service_reply_subject
from pipelines.generator.tenants import INBOUND_DOMAIN, Tenant, build_tenants, registry_yaml
from pipelines.threads.subjects import normalize_subject
from pipelines.threads.tracking import tracking_token

GENERIC_SUBJECTS = {
    "es": ("Consulta", "Factura", "Reclamo", "Problema con mi pedido", "Solicitud de información", "Presupuesto"),
    "pt": ("Dúvida", "Cobrança", "Reclamação", "Problema com meu pedido", "Solicitação de informações", "Orçamento"),
}
"""Subjects many customers write: the same normalized subject from different people in one week."""
GENERIC_SHARE = 0.12
"""Conversations that open with one of the generic subjects."""
RETURNING_SHARE = 0.12
"""Conversations opened by a customer who wrote before (sometimes with the same subject)."""
LOCALIZED_MARKERS = ("RE:", "Re:", "RES:", "AW:", "SV:", "Antw:", "R:", "回复:", "RV:", "Fwd:", "ENC:", "WG:")
"""Prefixes of replies that lost their references (clients in other languages, forwards)."""
TRACKING_SUBJECTS = {
    "es": ("Documentación solicitada", "Envío los datos", "Comprobante", "Sigo esperando respuesta"),
    "pt": ("Documentação solicitada", "Envio os dados", "Comprovante", "Ainda aguardo retorno"),
}
STRANGER_SUBJECTS = {
    "es": ("Consulta sobre mi caso", "Adjunto información", "Cambio de datos de contacto"),
    "pt": ("Consulta sobre meu caso", "Segue informação", "Alteração de dados de contato"),
}
STRANGERS_PER_TENANT = {"forged": 4, "guessed_token": 2, "forged_token": 2, "claim": 3}
"""Strangers' attempts per tenant and kind (fewer when too few conversations qualify)."""


@dataclass(slots=True)
class MailboxFile:
    path: str
    """Bucket-relative: `inbound/<sesId>` or `outbound/<tenant>/<sesId>.eml`."""
    raw: bytes
    thread: str
    """The true thread (conversation label)."""
    tenant: str
    kind: str
    """What situation produced it (see the module docstring)."""
    arrived_at: int
    """Epoch seconds: SES receipt for inbound mail, the send for outbound mail."""


@dataclass(slots=True)
class SupportMailbox:
    files: list[MailboxFile]
    """In arrival order."""
    registry: bytes
    """`tenants.yaml` for the tenants."""
    must_not_merge: list[tuple[str, str]]
    """Pairs of true threads that look alike (subject, clashing id, junk In-Reply-To) but are different
    conversations, possibly of different tenants."""

    def write(self, dest: Path) -> None:
        """Lay the mailbox out like the bucket (and `tenants.yaml`), file times set to arrival."""
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "tenants.yaml").write_bytes(self.registry)
        for f in self.files:
            path = dest / f.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f.raw)
            os.utime(path, (f.arrived_at, f.arrived_at))


@dataclass(slots=True)
class _Conversation:
    label: str
    tenant: Tenant
    customer: Customer
    topic: text.Topic
    ctx: dict[str, str]
    public: str
    case_no: int
    guid: bytes | None
    subject: str
    history: list[Sent] = field(default_factory=list)
    cases_written_to: list[str] = field(default_factory=list)
    """Case addresses (from our answers' Reply-To) the customer wrote a new message to."""


class _Builder:
    def __init__(self, seed: int, tenants: int, days: int, threads_per_tenant: int, tracking_secret: str) -> None:
        self.rng = random.Random(f"seslake/support-mailbox/{seed}")
        self.stranger_rng = random.Random(f"seslake/support-mailbox/{seed}/strangers")
        self.tracking_secret = tracking_secret
        self.tenants = build_tenants(tenants, random.Random(f"seslake/support-mailbox/{seed}/tenants"))
        self.pool = BlobPool(random.Random(f"seslake/support-mailbox/{seed}/blobs"), size=256 * 1024)
        self.selector = "".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz234567", k=32))
        self.t0 = 1_791_763_200  # 2026-10-12 00:00 UTC, a Monday
        self.days = days
        self.threads_per_tenant = threads_per_tenant
        self.files: list[MailboxFile] = []
        self.out_index = 0
        self.first_subject: dict[str, tuple[str, str, str, int]] = {}
        """label -> (tenant, normalized subject, customer, start)."""
        self.special: dict[str, list[str]] = {"clash": [], "junk": []}
        self.stranger_pairs: list[tuple[str, str]] = []
        """(victim conversation, stranger conversation)."""

    # ------------------------------------------------------------------ emit
    def _inbound(self, conv: _Conversation, rendered: Rendered, ts: int, kind: str, rcpt: str | None = None) -> int:
        c, t = conv.customer, conv.tenant
        if rcpt is None:
            d = deliver(
                self.rng,
                rendered,
                sender=c.address,
                client=c.client,
                corporate=c.corporate,
                mode=t.provider,
                rcpt=t.inbound_for(conv.public),
                public=conv.public,
                ts=ts,
                selector=self.selector,
            )
        else:
            d = deliver(
                self.rng,
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
        self.files.append(MailboxFile(f"inbound/{d.ses_id}", d.raw, conv.label, t.id, kind, d.receipt_ts))
        return d.receipt_ts

    # ------------------------------------------------------------------ customers
    def customer_first(self, conv: _Conversation, ts: int, *, lost: bool = False, copies: int = 1) -> None:
        rng, c = self.rng, conv.customer
        body = first_text(rng, c, conv.topic, conv.ctx, smart=False, attached=False)
        msgid = message_id_for(c.client, rng, c.domain, ts)
        tindex = thread_index(rng, ts, conv.guid, 0) if conv.guid else None
        draft = draft_for(
            c,
            to=[("", conv.public)],
            subject=conv.subject,
            text=body,
            date_ts=ts,
            offset=mime.utc_offset(c.zone, ts),
            message_id=msgid,
            html=c.client != "thunderbird",
            thread_index=tindex,
            thread_topic=conv.subject if conv.guid else None,
        )
        rendered = render(draft, rng)
        if not lost:
            for copy in range(copies):
                self._inbound(conv, rendered, ts + copy * rng.randrange(5, 90), "duplicate_copy" if copy else "first")
        conv.history.append(Sent("inbound", msgid, [], conv.subject, body, ts, c.display or c.address, c.address))

    def webform_first(self, conv: _Conversation, ts: int, constant_id: bool) -> None:
        rng, c, t = self.rng, conv.customer, conv.tenant
        es = text.lang_base(t.lang) == "es"
        message = text.fill(rng.choice(conv.topic.openings), rng, conv.ctx)
        name = f"{c.first} {c.last}"
        msgid = f"formulario-contacto@{t.domain}" if constant_id else f"{uuid4(rng)}@{t.domain}"
        title = "Nuevo mensaje de contacto" if es else "Nova mensagem de contato"
        esc = mime.html_escape
        html = f"<html><body><h2>{title}</h2><p>{esc(name)}</p><p>{esc(message)}</p></body></html>"
        headers = [
            "Date: " + mime.rfc2822(ts, mime.utc_offset(t.zone, ts)),
            f"To: {conv.public}",
            "From: " + mime.format_address("Formulario web" if es else "Formulário do site", f"noreply@{t.domain}"),
            "Reply-To: " + mime.format_address(name, c.address, "UTF-8", "Q"),
            "Subject: " + mime.encode_unstructured(conv.subject, "UTF-8", "Q"),
            f"Message-ID: <{msgid}>",
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=UTF-8",
            "Content-Transfer-Encoding: quoted-printable",
        ]
        rendered = Rendered(
            headers, mime.encode_body(html, "UTF-8", "quoted-printable"), None, title, "UTF-8", "qp", []
        )
        self._inbound(conv, rendered, ts, "webform_constant_id" if constant_id else "webform")
        conv.history.append(Sent("inbound", msgid, [], conv.subject, message, ts, name, c.address))

    def customer_reply(self, conv: _Conversation, ts: int, style: str) -> None:
        rng, c = self.rng, conv.customer
        prev = conv.history[-1]
        quote = quote_for(c, prev.ts, prev.from_name, prev.from_addr, prev.subject, prev.own_text)
        body = reply_text(rng, c, conv.topic, conv.ctx, quote, False, False)
        subject = reply_subject(c.client, c.ui_lang, prev.subject)
        irt: str | None = prev.wire_id
        refs = (prev.refs + [prev.wire_id])[-12:]
        to = conv.public
        rcpt: str | None = None
        if style == "irt":
            refs = []
        elif style in ("thread_index", "subject", "junk"):
            refs, irt = [], None
        if style == "subject":
            base = prev.subject.removeprefix("Re: ") if rng.random() < 0.5 else prev.subject
            subject = f"{rng.choice(LOCALIZED_MARKERS)} {base}"
        elif style == "tracking" and prev.reply_to:
            refs, irt = [], None
            subject = rng.choice(TRACKING_SUBJECTS[text.lang_base(c.lang)])
            body = body.split("\n\n" + quote)[0]
            to = rcpt = prev.reply_to
            conv.cases_written_to.append(prev.reply_to)
        msgid = message_id_for(c.client, rng, c.domain, ts)
        tindex = thread_index(rng, conv.history[0].ts, conv.guid, len(conv.history)) if conv.guid else None
        if style == "subject":
            tindex = None
        draft = draft_for(
            c,
            to=[("", to)],
            subject=subject,
            text=body,
            date_ts=ts,
            offset=mime.utc_offset(c.zone, ts),
            message_id=msgid,
            in_reply_to=irt,
            references=refs,
            html=c.client != "thunderbird",
            thread_index=tindex,
            thread_topic=conv.subject if tindex else None,
        )
        rendered = render(draft, rng)
        if style == "junk":
            agent_addr = f"{text.ascii_fold(prev.from_name.split()[-1]).lower()}@{conv.tenant.domain}"
            junk = (
                f"<{conv.public}>"
                if rng.random() < 0.5
                else f'Your message of "{mime.rfc2822(prev.ts)}" <{agent_addr}>'
            )
            rendered.headers = replace_header(rendered.headers, "In-Reply-To", None) + [f"In-Reply-To: {junk}"]
        self._inbound(conv, rendered, ts, f"reply_{style}", rcpt)
        conv.history.append(
            Sent(
                "inbound",
                msgid,
                refs or [],
                subject,
                body.split("\n\n" + quote)[0],
                ts,
                c.display or c.address,
                c.address,
            )
        )

    def gateway_loop(self, conv: _Conversation, ts: int) -> None:
        """Two quick messages from a ticket gateway that reference themselves and each other."""
        rng, c = self.rng, conv.customer
        prev = conv.history[-1]
        a, b = (f"ticket-{rng.randrange(10**6)}.{uuid4(rng)}@{c.domain}" for _ in range(2))
        for own, other, at in ((a, b, ts), (b, a, ts + rng.randrange(60, 900))):
            draft = draft_for(
                c,
                to=[("", conv.public)],
                subject=reply_subject(c.client, c.ui_lang, prev.subject),
                text=reply_text(rng, c, conv.topic, conv.ctx, None, False, True),
                date_ts=at,
                offset=mime.utc_offset(c.zone, at),
                message_id=own,
                in_reply_to=other,
                references=[prev.wire_id, other, own],
                html=False,
            )
            self._inbound(conv, render(draft, rng), at, "gateway_loop")
        conv.history.append(
            Sent("inbound", b, [prev.wire_id, a], prev.subject, "", ts, c.display or c.address, c.address)
        )

    # ------------------------------------------------------------------ agents
    def agent_reply(self, conv: _Conversation, ts: int, answering: Sent | None = None, tracking: str = "") -> None:
        rng, c, t = self.rng, conv.customer, conv.tenant
        prev = answering or conv.history[-1]
        send_ms = ts * 1000 + rng.randrange(1000)
        ses_id = ses_outbound_id(rng, send_ms, t.region)
        lang = agent_language(t, c.lang)
        quoted = "\n".join("> " + ln for ln in prev.own_text.split("\n")[:8])
        agent = rng.choice(t.agents)
        plain, html, links = agent_texts(
            rng, t, lang, agent, c.first if c.display else "", conv.topic, conv.ctx, quoted, conv.case_no
        )
        subject = service_reply_subject(prev.subject)
        refs = (prev.refs + [prev.wire_id])[-10:]
        built = build(
            rng,
            self.pool,
            index=self.out_index,
            tenant=t,
            ses_id=ses_id,
            send_ts=ts,
            send_ms=send_ms,
            public=conv.public,
            to=[(c.display, c.address)],
            subject=subject,
            plain=plain,
            html=html,
            links=links,
            in_reply_to=prev.wire_id,
            references=refs,
            case_no=conv.case_no,
            kinds=[recipient_kind(c)],
            survey=False,
            fate="delivered",
            final=False,
            thread_index=thread_index(rng, conv.history[0].ts, conv.guid, len(conv.history)) if conv.guid else None,
            thread_topic=conv.subject,
            with_reply_to=bool(tracking),
            attach=None,
            tracking_secret=self.tracking_secret,
        )
        self.out_index += 1
        raw, reply_to = built.raw, built.reply_to
        if tracking == "token" and reply_to:
            # a case system with random case ids, on the bare `case-<id>-<mac>@` form
            case_id = "".join(rng.choices("abcdefghjkmnpqrstuvwxyz23456789", k=8))
            new = f"{tracking_token(t.id, case_id, secret=self.tracking_secret)}@{INBOUND_DOMAIN}"
            raw = raw.replace(f"Reply-To: {reply_to}".encode(), f"Reply-To: {new}".encode(), 1)
            reply_to = new
        self.files.append(MailboxFile(f"outbound/{t.id}/{ses_id}.eml", raw, conv.label, t.id, "agent_reply", ts))
        conv.history.append(
            Sent(
                "outbound",
                wire_id(ses_id, t.region),
                refs,
                subject,
                plain.split("\n\n")[1],
                ts,
                agent,
                conv.public,
                reply_to,
            )
        )

    # ------------------------------------------------------------------ strangers
    def stranger_mail(
        self,
        victim: _Conversation,
        kind: str,
        ts: int,
        *,
        sender: Customer,
        subject: str,
        to: str,
        reply_to: str | None = None,
        thread_index_of: bytes | None = None,
        forged: bool = False,
    ) -> None:
        """One stranger's message to the victim's tenant, its own conversation, never to merge with the victim's."""
        rng, t = self.stranger_rng, victim.tenant
        label = f"{t.id}-s{len(self.stranger_pairs) + 1:03d}"
        to_case = to != victim.public
        draft = draft_for(
            sender,
            to=[("", to)],
            subject=subject,
            text=text.fill(rng.choice(victim.topic.openings), rng, victim.ctx),
            date_ts=ts,
            offset=mime.utc_offset(sender.zone, ts),
            message_id=message_id_for(sender.client, rng, sender.domain, ts),
            html=sender.client != "thunderbird",
            thread_index=thread_index(rng, victim.history[0].ts, thread_index_of, 1) if thread_index_of else None,
            thread_topic=victim.subject if thread_index_of else None,
        )
        rendered = render(draft, rng)
        if reply_to:
            rendered.headers = replace_header(rendered.headers, "Reply-To", None) + [f"Reply-To: {reply_to}"]
        d = deliver(
            rng,
            rendered,
            sender=sender.address,
            client=sender.client,
            corporate=sender.corporate,
            mode="direct" if to_case else t.provider,
            rcpt=to if to_case else t.inbound_for(victim.public),
            public=None if to_case else victim.public,
            ts=ts,
            selector=self.selector,
            auth_fail=forged,
        )
        self.files.append(MailboxFile(f"inbound/{d.ses_id}", d.raw, label, t.id, f"stranger_{kind}", d.receipt_ts))
        self.stranger_pairs.append((victim.label, label))

    def strangers(self, conversations: list[_Conversation]) -> None:
        """Strangers' attempts on other customers' cases (see the module docstring), per tenant."""
        rng = self.stranger_rng
        for t in self.tenants:
            mine = [c for c in conversations if c.tenant.id == t.id and c.history]
            answered = [c for c in mine if any(s.direction == "outbound" for s in c.history)]
            plus = [c for c in answered if any(s.reply_to and "+case-" in s.reply_to for s in c.history)]
            claimed = [c for c in mine if c.cases_written_to]
            picks = {
                "forged": rng.sample(answered, min(STRANGERS_PER_TENANT["forged"], len(answered))),
                "guessed_token": rng.sample(plus, min(STRANGERS_PER_TENANT["guessed_token"], len(plus))),
                "forged_token": rng.sample(plus, min(STRANGERS_PER_TENANT["forged_token"], len(plus))),
                "claim": rng.sample(claimed, min(STRANGERS_PER_TENANT["claim"], len(claimed))),
            }
            for kind, victims in picks.items():
                for victim in victims:
                    self.stranger(victim, kind)

    def stranger(self, victim: _Conversation, kind: str) -> None:
        """One attempt of a kind (`STRANGERS_PER_TENANT`) on the victim's conversation."""
        rng = self.stranger_rng
        last = victim.history[-1]
        after = last.ts + rng.randrange(600, 2 * 86400)
        base = text.lang_base(victim.customer.lang)
        case_address = next((s.reply_to for s in reversed(victim.history) if s.reply_to), None)
        if kind == "forged":
            # the victim's name and address as From and Reply-To, the case's subject, case address and
            # Thread-Index; it fails SPF, DKIM and DMARC
            self.stranger_mail(
                victim,
                kind,
                after,
                sender=victim.customer,
                subject="Re: " + victim.subject,
                to=case_address or victim.public,
                reply_to=victim.customer.address,
                thread_index_of=victim.guid,
                forged=True,
            )
            return
        stranger = make_customer(rng, victim.tenant)
        subject = rng.choice(STRANGER_SUBJECTS[base])
        if kind in ("guessed_token", "forged_token"):
            plus = next(s.reply_to for s in reversed(victim.history) if s.reply_to and "+case-" in s.reply_to)
            mailbox, domain = plus.partition("+")[0], plus.rpartition("@")[2]
            token = f"case-{victim.case_no}"  # the old sequential form, guessed from one's own case number
            if kind == "forged_token":
                token += "-" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz234567", k=16))
            self.stranger_mail(victim, kind, after, sender=stranger, subject=subject, to=f"{mailbox}+{token}@{domain}")
            return
        # claim: the (leaked) case address as Reply-To, shortly before our answer first carries it
        address = victim.cases_written_to[0]
        first = next(s for s in victim.history if s.reply_to == address)
        before = first.ts - rng.randrange(60, 3600)
        self.stranger_mail(victim, kind, before, sender=stranger, subject=subject, to=victim.public, reply_to=address)

    # ------------------------------------------------------------------ plans
    def new_conversation(self, t: Tenant, n: int, start: int, customer: Customer | None = None) -> _Conversation:
        rng = self.rng
        c = customer or make_customer(rng, t)
        topic = rng.choice(text.topics_for(c.lang))
        lt = time.gmtime(start)
        ctx = text.thread_context(rng, c.lang, t.industry, t.name, lt.tm_mon, lt.tm_mday, lt.tm_year, c.first)
        base = text.lang_base(c.lang)
        generic = rng.random() < GENERIC_SHARE
        subject = rng.choice(GENERIC_SUBJECTS[base]) if generic else subject_first(rng, c, topic, ctx)
        public = rng.choice(t.public_addresses)
        guid = rng.randbytes(16) if c.client == "outlook" else None
        return _Conversation(f"{t.id}-{n:04d}", t, c, topic, ctx, public, 1000 + n, guid, subject)

    def reply_style(self, conv: _Conversation, legacy: bool) -> str:
        r = self.rng.random()
        prev = conv.history[-1]
        if prev.reply_to and r < 0.3:
            return "tracking"
        if legacy:
            return "junk"
        if conv.customer.client == "outlook":
            return "irt" if r < 0.6 else ("thread_index" if r < 0.85 else "refs")
        return "refs" if r < 0.9 else "subject"

    def play(self, conv: _Conversation, start: int) -> None:
        rng = self.rng
        t = conv.tenant
        scenario = rng.choices(
            ("normal", "lost_first", "gateway_loop", "duplicate_copy", "webform", "legacy_mailer"),
            weights=(86, 3, 1.5, 2.5, 4, 3),
        )[0]
        tracking = rng.choice(("token", "plus")) if rng.random() < 0.35 else ""
        legacy = scenario == "legacy_mailer"
        if legacy:
            self.special["junk"].append(conv.label)
        ts = start
        if scenario == "webform":
            constant = t.id != self.tenants[0].id or rng.random() < 0.5
            self.webform_first(conv, ts, constant)
            if constant:
                self.special["clash"].append(conv.label)
        else:
            self.customer_first(
                conv, ts, lost=scenario == "lost_first", copies=2 if scenario == "duplicate_copy" else 1
            )
        rounds = 1 + min(3, int(rng.expovariate(1.1)))
        for k in range(rounds):
            ts += rng.randrange(1800, 30 * 3600)
            self.agent_reply(conv, ts, tracking=tracking)
            if scenario == "lost_first" and k == 0 and rng.random() < 0.5:
                ts += rng.randrange(600, 7200)
                self.agent_reply(conv, ts, answering=conv.history[0])
            if k == rounds - 1 and rng.random() < 0.35:
                break
            ts += rng.randrange(900, 3 * 86400)
            if scenario == "gateway_loop" and k == 0:
                self.gateway_loop(conv, ts)
                continue
            style = self.reply_style(conv, legacy)
            if style == "thread_index" and rng.random() < 0.4:
                ts += rng.randrange(8 * 86400, 20 * 86400)  # picked up again after a holiday
            self.customer_reply(conv, ts, style)

    def build(self) -> SupportMailbox:
        rng = self.rng
        span = self.days * 86400
        plans: list[tuple[int, _Conversation]] = []
        for t in self.tenants:
            regulars: list[Customer] = []
            for n in range(1, self.threads_per_tenant + 1):
                start = self.t0 + rng.randrange(span)
                returning = rng.choice(regulars) if regulars and rng.random() < RETURNING_SHARE else None
                conv = self.new_conversation(t, n, start, returning)
                regulars.append(conv.customer)
                plans.append((start, conv))
        # the same customer writes the same subject to two tenants within a day
        if len(self.tenants) > 1:
            for k in range(max(1, self.threads_per_tenant // 25)):
                a, b = rng.sample(self.tenants, 2)
                start = self.t0 + rng.randrange(span)
                first = self.new_conversation(a, 900 + k, start)
                second = self.new_conversation(b, 900 + k, start + rng.randrange(600, 86400), first.customer)
                second.subject = first.subject
                plans += [(start, first), (start + 1, second)]
        for start, conv in plans:
            self.first_subject[conv.label] = (
                conv.tenant.id,
                normalize_subject(conv.subject),
                conv.customer.address,
                start,
            )
            self.play(conv, start)
        self.strangers([conv for _, conv in plans])
        self.files.sort(key=lambda f: (f.arrived_at, f.path))
        return SupportMailbox(self.files, registry_yaml(self.tenants), self.must_not_merge())

    def must_not_merge(self) -> list[tuple[str, str]]:
        pairs: set[tuple[str, str]] = set()
        items = sorted(self.first_subject.items())
        for (la, (ta, sa, ca, start_a)), (lb, (tb, sb, cb, start_b)) in combinations(items, 2):
            if sa == sb and ca != cb and abs(start_a - start_b) < 14 * 86400:
                pairs.add((la, lb))  # same subject, two customers, two weeks
            elif sa == sb and ta != tb and ca == cb:
                pairs.add((la, lb))  # one customer, one subject, two tenants
        for group in self.special.values():
            for la, lb in combinations(sorted(group), 2):
                if la.rsplit("-", 1)[0] == lb.rsplit("-", 1)[0]:
                    pairs.add((la, lb))  # one tenant's web form ids, or its address in In-Reply-To
        pairs.update(self.stranger_pairs)  # a stranger's mail and the case it tried to join
        return sorted(pairs)


def build_support_mailbox(
    seed: int = 7, tenants: int = 3, days: int = 42, threads_per_tenant: int = 150, tracking_secret: str = ""
) -> SupportMailbox:
    """A deterministic mailbox: same arguments, same bytes. Agents' case addresses are keyed with
    `tracking_secret` ('' = the development key, which threading uses when no secret is configured)."""
    return _Builder(seed, tenants, days, threads_per_tenant, tracking_secret).build()
