"""Agents' replies as the reply service archives them after SES v2 SendEmail.

The archived MIME is what the service submitted: Python-email style headers, a Message-ID that
SES replaced on the wire (about half the archive was rewritten to the SES id afterwards), the
configuration set and message tags that attribute it, and sometimes a tracking Reply-To on the
tenant's inbound address (keyed with the tracking secret by `pipelines.threads.tracking`, as the reply
service makes it). `OutboundMeta` keeps what SES will echo in its events.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field

from pipelines.events.normalize import CAMPAIGN_TAG
from pipelines.threads.tracking import tracking_address

from . import mime, text
from .clients import CT_PDF, Attachment, boundary_for, uuid4
from .inbound import BlobPool, Customer, attachment_size
from .tenants import DEFAULT_CONFIGURATION_SET, Tenant

SOURCE_IP = "203.0.113.10"
CALLER = "omnibrein-reply-service"


def ses_outbound_id(rng: random.Random, ms: int, region: str) -> str:
    """`0100` + 12 hex digits of the send time in ms, a UUID, `-000000` (eu-west-1 ids start 0102)."""
    prefix = "0102" if region == "eu-west-1" else "0100"
    return f"{prefix}{ms:012x}-{uuid4(rng)}-000000"


_REPLY_PREFIXES = re.compile(r"^(?:(?:re|res|aw|sv|antw)\s*:\s*)+", re.IGNORECASE)


def reply_subject(subject: str) -> str:
    """`Re: ` + the subject without stacked reply prefixes (forward markers such as Fwd:/RV: stay)."""
    return "Re: " + _REPLY_PREFIXES.sub("", subject)


def survey_campaign(send_ts: int) -> str:
    """The campaign tag of a satisfaction survey: `csat-` and the UTC month it was sent."""
    return "csat-" + time.strftime("%Y-%m", time.gmtime(send_ts))


def wire_id(ses_id: str, region: str) -> str:
    host = "email.amazonses.com" if region == "us-east-1" else f"{region}.amazonses.com"
    return f"{ses_id}@{host}"


@dataclass(slots=True)
class OutboundMeta:
    """Everything SES event records repeat about a sent message."""

    index: int
    tenant: Tenant
    ses_id: str
    send_ms: int
    from_addr: str
    from_decoded: str
    to: list[str]
    to_decoded: list[str]
    subject: str
    date_header: str
    headers: list[tuple[str, str]]
    configuration_set: str
    tags: dict[str, list[str]]
    links: list[tuple[str, str]]
    recipient_kinds: list[str]
    survey: bool
    fate: str
    final: bool
    reply_to: list[str] = field(default_factory=list)


def recipient_kind(c: Customer) -> str:
    if c.client == "apple" or c.domain == "icloud.com":
        return "apple"
    if c.domain == "gmail.com":
        return "gmail"
    if c.corporate:
        return "corporate"
    return c.client


def _greeting(lang: str, first: str) -> str:
    if lang == "pt-BR":
        return f"Olá, {first}!" if first else "Olá!"
    if lang == "es-ES":
        return f"Hola, {first}:" if first else "Hola:"
    return f"Hola {first}," if first else "Hola,"


def agent_language(tenant: Tenant, customer_lang: str) -> str:
    """Agents answer in the customer's language, in the tenant's variety when they share one."""
    if text.lang_base(tenant.lang) == text.lang_base(customer_lang):
        return tenant.lang
    return customer_lang


def agent_texts(
    rng: random.Random,
    tenant: Tenant,
    lang: str,
    agent: str,
    first: str,
    topic: text.Topic,
    ctx: dict[str, str],
    quote: str,
    case_no: int,
) -> tuple[str, str, list[tuple[str, str]]]:
    """(text, html, links) of an agent reply in `lang`."""
    pt = lang == "pt-BR"
    help_url = f"https://www.{tenant.domain}/{'ajuda' if pt else 'ayuda'}/{topic.key}"
    links = [(help_url, "ayuda")]
    answer = text.fill(rng.choice(topic.answers), rng, ctx)
    opening = text.fill(rng.choice(text.AGENT_OPENINGS[lang]), rng, ctx)
    paras = [_greeting(lang, first), f"{opening} {answer}"]
    if rng.random() < 0.4:
        extra = text.fill(rng.choice(topic.answers), rng, ctx)
        if extra != answer:
            paras.append(extra)
    more = (
        "Mais informações em"
        if pt
        else ("Podés ver más información en" if lang == "es-AR" else "Puedes ver más información en")
    )
    paras.append(f"{more} {help_url}")
    if rng.random() < 0.3:
        pay = f"https://clientes.{tenant.domain}/{'pagamentos' if pt else 'pagos'}?caso={case_no}"
        links.append((pay, "pagos"))
        paras.append(("Acesse sua conta: " if pt else "Ingresá a tu cuenta: ") + pay)
    paras.append(rng.choice(text.AGENT_CLOSINGS[lang]))
    paras.append(f"{text.AGENT_SIGNOFF[lang]}\n{agent}\n{text.TEAM[lang]}\n{tenant.name}")
    own = "\n\n".join(paras)
    plain = own + ("\n\n" + quote if quote else "")
    esc = mime.html_escape
    html_paras = []
    for p in paras:
        h = esc(p).replace("\n", "<br>")
        for url, _tag in links:
            h = h.replace(esc(url), f'<a href="{esc(url)}">{esc(url)}</a>')
        html_paras.append(f"<p>{h}</p>")
    qhtml = ""
    if quote:
        qlines = quote.split("\n")
        qhtml = (
            f'<p>{esc(qlines[0])}</p><blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;'
            f'padding-left:1ex">{"<br>".join(esc(x[2:] if x.startswith("> ") else x.lstrip(">")) for x in qlines[1:])}'
            "</blockquote>"
        )
    html = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="font-family:Arial,'
        f'sans-serif;font-size:14px;color:#222">{"".join(html_paras)}{qhtml}</body></html>\n'
    )
    return plain, html, links


def survey_texts(tenant: Tenant, lang: str, first: str, case_no: int) -> tuple[str, str, str, list[tuple[str, str]]]:
    title, body = text.SURVEY[lang]
    title = title.format(tenant=tenant.name)
    links = [(f"https://www.{tenant.domain}/encuesta?caso={case_no}&nota={n}", f"nota{n}") for n in range(1, 6)]
    plain = "\n\n".join(
        [
            _greeting(lang, first),
            body,
            "\n".join(f"{n}: {u}" for (u, _), n in zip(links, range(1, 6), strict=True)),
            f"{text.AGENT_SIGNOFF[lang]}\n{tenant.name}",
        ]
    )
    stars = "".join(
        f'<a href="{mime.html_escape(u)}" style="font-size:24px;text-decoration:none">&#9733;</a>' for u, _ in links
    )
    html = (
        f'<!DOCTYPE html><html><body style="font-family:Arial,sans-serif"><h2>{mime.html_escape(title)}</h2>'
        f"<p>{mime.html_escape(body)}</p><p>{stars}</p></body></html>\n"
    )
    return title, plain, html, links


@dataclass(slots=True)
class Built:
    raw: bytes
    message_id: str
    meta: OutboundMeta
    text: str
    attachments: list[Attachment]
    attribution: str
    reply_to: str | None


def build(
    rng: random.Random,
    pool: BlobPool,
    *,
    index: int,
    tenant: Tenant,
    ses_id: str,
    send_ts: int,
    send_ms: int,
    public: str,
    to: list[tuple[str, str]],
    subject: str,
    plain: str,
    html: str,
    links: list[tuple[str, str]],
    in_reply_to: str | None,
    references: list[str],
    case_no: int,
    kinds: list[str],
    survey: bool,
    fate: str,
    final: bool,
    thread_index: str | None,
    thread_topic: str | None,
    with_reply_to: bool,
    attach: str | None,
    tracking_secret: str,
) -> Built:
    """The archived .eml of one send, and the metadata SES events will repeat. With `with_reply_to`, its
    Reply-To is the case's tracking address on the tenant's first inbound address, keyed with
    `tracking_secret` ('' = the development key, what the demo and the tests thread with)."""
    support = f"{text.SUPPORT_WORD[tenant.lang]} {tenant.name}"
    from_h = mime.format_address(support, public, "utf-8", "q")
    to_items = [mime.format_address(n, a, "utf-8", "q") for n, a in to]
    subj_h = mime.encode_unstructured(subject, "utf-8", "q", "words")
    date_h = mime.rfc2822(send_ts, 0, pad_day=True)
    wire = wire_id(ses_id, tenant.region)
    message_id = wire if rng.random() < 0.5 else f"{uuid4(rng)}@reply.omnibrein.com"
    r = rng.random()
    if r < 0.9:
        attribution = "tag"
    elif r < 0.96:
        attribution = "configuration_set"
    else:
        attribution = "from_domain"
    kind_tag = "survey" if survey else "reply"
    headers: list[tuple[str, str]] = [
        ("MIME-Version", "1.0"),
        ("From", from_h),
        ("To", mime.address_list(to_items)),
        ("Subject", subj_h),
        ("Date", date_h),
        ("Message-ID", f"<{message_id}>"),
    ]
    if in_reply_to:
        headers.append(("In-Reply-To", f"<{in_reply_to}>"))
    if references:
        headers.append(("References", mime.fold_text(" ".join(f"<{x}>" for x in references))))
    reply_to = (
        tracking_address(tenant.id, case_no, tenant.inbound_addresses[0], secret=tracking_secret)
        if with_reply_to
        else None
    )
    if reply_to:
        headers.append(("Reply-To", reply_to))
    if thread_index:
        headers.append(("Thread-Topic", mime.encode_unstructured(thread_topic or subject, "utf-8", "q", "words")))
        headers.append(("Thread-Index", thread_index))
    tags: dict[str, list[str]] = {}
    if attribution != "from_domain":
        headers.append(("X-SES-CONFIGURATION-SET", tenant.configuration_set))
        config = tenant.configuration_set
    else:
        config = DEFAULT_CONFIGURATION_SET
    if attribution == "tag":
        headers.append(("X-SES-MESSAGE-TAGS", f"tenant={tenant.id}, kind={kind_tag}"))
        tags = {"tenant": [tenant.id], "kind": [kind_tag]}
    elif attribution == "configuration_set" and rng.random() < 0.5:
        headers.append(("X-SES-MESSAGE-TAGS", f"kind={kind_tag}"))
        tags = {"kind": [kind_tag]}
    if survey:  # sent through the API with EmailTags, so the tag is in the events, not the headers
        tags[CAMPAIGN_TAG] = [survey_campaign(send_ts)]

    b_alt = boundary_for("python", rng, "alt")
    tp = mime.leaf(
        ['Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: quoted-printable"],
        mime.encode_body(plain, "utf-8", "quoted-printable"),
    )
    hp = mime.leaf(
        ['Content-Type: text/html; charset="utf-8"', "Content-Transfer-Encoding: quoted-printable"],
        mime.encode_body(html, "utf-8", "quoted-printable"),
    )
    alt = mime.multipart(b_alt, [tp, hp])
    attachments: list[Attachment] = []
    if attach:
        data = pool.take(rng, "pdf", min(attachment_size(rng), 400_000))
        att = Attachment(attach, CT_PDF, data)
        attachments.append(att)
        b_mix = boundary_for("python", rng, "mixed")
        part = mime.leaf(
            [
                f"Content-Type: {CT_PDF}",
                "MIME-Version: 1.0",
                "Content-Transfer-Encoding: base64",
                "Content-Disposition: attachment; " + mime.param("filename", attach, "rfc2231"),
            ],
            mime.b64_lines(data),
        )
        inner = mime.leaf([f'Content-Type: multipart/alternative; boundary="{b_alt}"', "MIME-Version: 1.0"], alt)
        body = mime.multipart(b_mix, [inner, part])
        top_ct = f'multipart/mixed; boundary="{b_mix}"'
    else:
        body = alt
        top_ct = f'multipart/alternative; boundary="{b_alt}"'
    all_headers = [("Content-Type", top_ct)] + headers
    raw = ("\r\n".join(f"{n}: {v}" for n, v in all_headers) + "\r\n\r\n").encode("ascii") + body

    unfolded = [(n, v.replace("\r\n", "")) for n, v in all_headers if n != "MIME-Version"] + [("MIME-Version", "1.0")]
    meta = OutboundMeta(
        index=index,
        tenant=tenant,
        ses_id=ses_id,
        send_ms=send_ms,
        from_addr=public,
        from_decoded=f"{support} <{public}>",
        to=[a for _, a in to],
        to_decoded=[f"{n} <{a}>" if n else a for n, a in to],
        subject=subject,
        date_header=date_h,
        headers=unfolded,
        configuration_set=config,
        tags=tags,
        links=links,
        recipient_kinds=kinds,
        survey=survey,
        fate=fate,
        final=final,
        reply_to=[reply_to] if reply_to else [],
    )
    return Built(raw, message_id, meta, plain, attachments, attribution, reply_to)
