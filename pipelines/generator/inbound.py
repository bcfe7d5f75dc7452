"""Customers, what they write, and how their mail ends up as an SES inbound object.

`compose_*` build drafts (plain strings: the truth), `deliver` wraps a rendered message in the
forwarder's and SES's trace headers, and `special_*` build the deliberately awkward objects
(malformed, empty, junk, virus, spam, unattributable) the pipeline must survive.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from . import mime, text, transport
from .clients import (
    CONTENT_TYPES,
    FORWARD_PREFIX,
    MAGIC,
    REPLY_PREFIX,
    Attachment,
    Draft,
    Rendered,
    ext_of,
    hexstr,
    quote_block,
    ses_inbound_id,
)
from .tenants import INBOUND_DOMAIN, Tenant

# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------

_ISP_DOMAINS = {"fibertel.com.ar", "arnet.com.ar", "telefonica.net", "uol.com.br", "bol.com.br", "terra.com.br"}


@dataclass(slots=True)
class Customer:
    first: str
    last: str
    display: str
    address: str
    lang: str
    client: str
    corporate: bool
    mobile: bool
    ui_lang: str
    zone: str

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]


def make_customer(rng: random.Random, tenant: Tenant) -> Customer:
    lang = tenant.lang
    r = rng.random()
    if r < 0.08:
        lang = "pt-BR" if tenant.lang != "pt-BR" else "es-AR"
    elif r < 0.1:
        lang = "es-ES" if tenant.lang != "es-ES" else "es-AR"
    first, last = text.person_name(rng, lang)
    corporate = rng.random() < 0.15
    if corporate:
        domain = rng.choice(text.CORPORATE[lang])
    else:
        names, weights = zip(*text.FREEMAIL[lang], strict=True)
        domain = rng.choices(names, weights=weights)[0]
    if domain == "gmail.com":
        client = "gmail" if rng.random() < 0.84 else "apple"
    elif domain.startswith(("hotmail", "outlook", "live")):
        client = "outlook"
    elif domain.startswith("yahoo"):
        client = "yahoo"
    elif domain == "icloud.com":
        client = "apple"
    elif domain in _ISP_DOMAINS:
        client = "thunderbird" if rng.random() < 0.6 else "zimbra"
    else:
        client = rng.choices(("outlook", "thunderbird", "zimbra", "gmail"), weights=(6, 1, 1, 2))[0]
    address = f"{text.mailbox(rng, first, last)}@{domain}"
    style = rng.random()
    if style < 0.72:
        display = f"{first} {last}"
    elif style < 0.8:
        display = f"{last}, {first}" if client == "outlook" else f"{first} {last}"
    elif style < 0.86:
        display = f"{first} {last}".upper() if rng.random() < 0.4 else f"{first} {last}".lower()
    elif style < 0.93:
        display = first
    else:
        display = ""
    ui = text.lang_base(lang)
    if client == "outlook":
        ui = rng.choices((ui, "de", "fr", "en"), weights=(90, 4, 3, 3))[0]
    zone = {"es-AR": "AR", "es-ES": "ES", "pt-BR": "BR"}[lang]
    return Customer(
        first,
        last,
        display,
        address,
        lang,
        client,
        corporate,
        mobile=client == "apple" and rng.random() < 0.7,
        ui_lang=ui,
        zone=zone,
    )


# --------------------------------------------------------------------------------------------
# Attachments (content is a slice of one random pool: fast, distinct, deterministic)
# --------------------------------------------------------------------------------------------


class BlobPool:
    """Random bytes to cut attachment contents from; a handful of magic bytes make types plausible."""

    def __init__(self, rng: random.Random, size: int = 6 * 1024 * 1024) -> None:
        self.data = rng.randbytes(size)

    def take(self, rng: random.Random, ext: str, size: int) -> bytes:
        magic = MAGIC.get(ext, b"")
        size = max(size, len(magic) + 16)
        need = size - len(magic)
        if need >= len(self.data):
            body = (self.data * (need // len(self.data) + 1))[:need]
        else:
            off = rng.randrange(0, len(self.data) - need)
            body = self.data[off : off + need]
        return magic + body


def attachment_size(rng: random.Random) -> int:
    if rng.random() < 0.004:
        return rng.randrange(2_000_000, 5_000_000)
    return int(2000 * (150 ** rng.random()))


def make_attachment(rng: random.Random, pool: BlobPool, filename: str) -> Attachment:
    ext = ext_of(filename)
    return Attachment(
        filename, CONTENT_TYPES.get(ext, "application/octet-stream"), pool.take(rng, ext, attachment_size(rng))
    )


_GENERIC_FILES = {
    "es": (
        "Comprobante.pdf",
        "documento.pdf",
        "IMG_{fecha_archivo}.jpg",
        "Captura de pantalla {fecha_archivo}.png",
        "Nota de reclamo.docx",
        "Detalle de movimientos.xlsx",
        "Presupuesto año 2027.xlsx",
        "Constancia.pdf",
    ),
    "pt": (
        "Comprovante.pdf",
        "documento.pdf",
        "IMG_{fecha_archivo}.jpg",
        "Captura de tela {fecha_archivo}.png",
        "Reclamação.docx",
        "Planilha de pedidos.xlsx",
        "Orçamento.xlsx",
        "Declaração.pdf",
    ),
}


def pick_filenames(rng: random.Random, topic: text.Topic, ctx: dict[str, str], lang: str) -> list[str]:
    n = 1 if rng.random() < 0.8 else rng.randrange(2, 4)
    pool = topic.attachment_names or _GENERIC_FILES[text.lang_base(lang)]
    names = []
    for _ in range(n):
        bank = pool if rng.random() < 0.75 else _GENERIC_FILES[text.lang_base(lang)]
        names.append(text.fill(rng.choice(bank), rng, ctx))
    seen: set[str] = set()
    out = []
    for nm in names:
        if nm in seen:
            stem, ext = nm.rsplit(".", 1)
            nm = f"{stem} ({len(seen) + 1}).{ext}"
        seen.add(nm)
        out.append(nm)
    return out


_LOGOS: dict[str, bytes] = {}


def company_logo(domain: str) -> Attachment:
    """The same signature logo in every mail from a company (image001.png, as Outlook names it)."""
    if domain not in _LOGOS:
        r = random.Random(f"logo:{domain}")
        _LOGOS[domain] = MAGIC["png"] + r.randbytes(r.randrange(2500, 9000))
    r = random.Random(f"cid:{domain}")
    cid = f"image001.png@01DB{r.getrandbits(40):010X}.{r.getrandbits(32):08X}"
    return Attachment("image001.png", "image/png", _LOGOS[domain], content_id=cid)


# --------------------------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------------------------

_WRAPPING = {"thunderbird", "zimbra"}
_UTF8_CLIENTS = {"gmail", "apple", "yahoo"}


def _para(p: str, client: str) -> str:
    return "\n".join(text.wrap(p)) if client in _WRAPPING else p


def signature(rng: random.Random, c: Customer, smart: bool) -> str:
    name = c.first if rng.random() < 0.5 or not c.last else f"{c.first} {c.last}"
    if c.corporate:
        company = c.domain.split(".")[0].capitalize()
        dash = " – " if smart else " - "
        role = (
            rng.choice(("Compras", "Administración", "Tesorería", "Logística"))
            if text.lang_base(c.lang) == "es"
            else rng.choice(("Compras", "Financeiro", "Administrativo", "Logística"))
        )
        phone = f"+54 351 {rng.randrange(400, 499)}-{rng.randrange(1000, 9999)}"
        return f"{c.first} {c.last}\n{role}{dash}{company}\nTel. {phone}"
    return name


def subject_first(rng: random.Random, c: Customer, topic: text.Topic, ctx: dict[str, str]) -> str:
    subj = text.fill(rng.choice(topic.subjects), rng, ctx)
    r = rng.random()
    pt = text.lang_base(c.lang) == "pt"
    if r < 0.05:
        subj = "[URGENTE] " + subj
    elif r < 0.12:
        subj += rng.choice(
            (
                f" - cuenta {ctx['n']}",
                " ¿me pueden ayudar?",
                " (segundo reclamo)",
                " - pedido de información urgente sobre el tema de la facturación",
            )
            if not pt
            else (
                f" - pedido {ctx['n']}",
                " – preciso de ajuda",
                " (segunda reclamação)",
                " - solicitação urgente de informações sobre a cobrança",
            )
        )
    if c.client in _UTF8_CLIENTS and rng.random() < 0.04:
        subj += " " + rng.choice(text.EMOJI)
    return subj


def first_text(
    rng: random.Random, c: Customer, topic: text.Topic, ctx: dict[str, str], smart: bool, attached: bool
) -> str:
    lang = c.lang
    greet = rng.choice(text.GREETINGS[lang])
    if c.client in _UTF8_CLIENTS and rng.random() < 0.06:
        greet += " " + rng.choice(text.EMOJI)
    p1 = text.fill(rng.choice(topic.openings), rng, ctx)
    if rng.random() < 0.7:
        p1 += " " + text.fill(rng.choice(topic.details), rng, ctx)
    if smart and ctx["item"] in p1:
        p1 = p1.replace(ctx["item"], f"“{ctx['item']}”", 1)
    paras = [greet, _para(p1, c.client)]
    if attached:
        paras.append("Adjunto el archivo." if text.lang_base(lang) == "es" else "Segue o arquivo em anexo.")
    paras.append(_para(text.fill(rng.choice(topic.asks), rng, ctx), c.client))
    closing = rng.choice(text.CLOSINGS[lang])
    if c.client in _UTF8_CLIENTS and rng.random() < 0.08:
        closing += " " + rng.choice(text.EMOJI)
    paras.append(closing + "\n" + signature(rng, c, smart))
    return "\n\n".join(paras)


def reply_text(
    rng: random.Random,
    c: Customer,
    topic: text.Topic,
    ctx: dict[str, str],
    quote: str | None,
    attached: bool,
    bump: bool,
) -> str:
    base = text.lang_base(c.lang)
    paras = []
    if not bump and rng.random() < 0.3:
        paras.append(rng.choice(text.GREETINGS[c.lang]))
    if bump:
        paras.append(rng.choice(text.BUMPS[base]))
    else:
        s = rng.choice(text.FOLLOWUPS[base])
        if attached:
            s = "Les adjunto lo que me pidieron." if base == "es" else "Segue em anexo o que foi solicitado."
        elif rng.random() < 0.4:
            s += " " + text.fill(rng.choice(topic.asks), rng, ctx)
        paras.append(_para(s, c.client))
    paras.append(rng.choice(text.CLOSINGS[c.lang]) + "\n" + (c.first or c.address.split("@")[0]))
    body = "\n\n".join(paras)
    if quote:
        body += "\n\n" + quote
    return body


def reply_subject(client: str, ui_lang: str, subject: str) -> str:
    if client == "outlook":
        return f"{REPLY_PREFIX[ui_lang]} {subject}"
    if subject[:3].lower() == "re:":
        return subject
    return "Re: " + subject


def forward_subject(client: str, ui_lang: str, subject: str) -> str:
    if client == "outlook":
        return f"{FORWARD_PREFIX[ui_lang]} {subject}"
    if client == "yahoo":
        return "Fw: " + subject
    return "Fwd: " + subject


def quote_for(c: Customer, prev_ts: int, prev_name: str, prev_addr: str, prev_subject: str, prev_text: str) -> str:
    off = mime.utc_offset(c.zone, prev_ts)
    to = f"{c.display} <{c.address}>" if c.display else c.address
    return quote_block(c.client, c.lang, prev_ts, off, prev_name, prev_addr, to, prev_subject, prev_text)


# --------------------------------------------------------------------------------------------
# Forwarded notifications (message/rfc822 or inline)
# --------------------------------------------------------------------------------------------


def notification(
    rng: random.Random, tenant: Tenant, c: Customer, ctx: dict[str, str], ts: int
) -> tuple[str, str, bytes]:
    """An automatic mail the customer received and now forwards: (subject, text, raw bytes)."""
    base = text.lang_base(c.lang)
    subject = text.fill(rng.choice(text.FORWARDED_SUBJECTS[base]), rng, ctx)
    sender = f"notificaciones@{tenant.domain}" if base == "es" else f"notificacoes@{tenant.domain}"
    body = (
        (
            f"Estimado/a cliente:\n\n{subject}.\nImporte: {ctx['monto']}\nReferencia: {ctx['n']}\n\n"
            "Este es un mensaje automático, por favor no responda.\n"
        )
        if base == "es"
        else (
            f"Prezado(a) cliente:\n\n{subject}.\nValor: {ctx['monto']}\nReferência: {ctx['n']}\n\n"
            "Esta é uma mensagem automática, por favor não responda.\n"
        )
    )
    headers = [
        "From: " + mime.format_address(tenant.name, sender, "UTF-8", "Q"),
        f"To: {c.address}",
        "Subject: " + mime.encode_unstructured(subject, "UTF-8", "B"),
        "Date: " + mime.rfc2822(ts, mime.utc_offset(tenant.zone, ts)),
        f"Message-ID: <{hexstr(rng, 24)}@{tenant.domain}>",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="UTF-8"',
        "Content-Transfer-Encoding: quoted-printable",
    ]
    raw = mime.leaf(headers, mime.encode_body(body, "UTF-8", "quoted-printable"))
    return subject, body, raw


def inline_forward_block(c: Customer, sender_name: str, sender: str, subject: str, ts: int, body: str) -> str:
    base = text.lang_base(c.lang)
    date = mime.rfc2822(ts, mime.utc_offset(c.zone, ts))
    head = (
        "---------- Forwarded message ---------"
        if c.client == "gmail"
        else (
            "Begin forwarded message:"
            if c.client == "apple"
            else ("-------- Mensaje reenviado --------" if base == "es" else "-------- Mensagem encaminhada --------")
        )
    )
    return f"{head}\nDe: {sender_name} <{sender}>\nDate: {date}\nSubject: {subject}\nTo: <{c.address}>\n\n{body}"


# --------------------------------------------------------------------------------------------
# Delivery into SES
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Delivered:
    raw: bytes
    ses_id: str
    receipt_ts: int
    envelope_rcpt: str
    forwarder: str


def deliver(
    rng: random.Random,
    rendered: Rendered,
    *,
    sender: str,
    client: str,
    corporate: bool,
    mode: str,
    rcpt: str,
    public: str | None,
    ts: int,
    selector: str,
    spam: str = "PASS",
    virus: str = "PASS",
    auth_fail: bool = False,
    header_encoding: str = "ascii",
    ms_loop: bool = False,
) -> Delivered:
    """Wrap a rendered message in the trace of its path: sender provider, forwarder (mode), SES."""
    ses_id = ses_inbound_id(rng)
    org = transport.origin(rng, sender, client, corporate, ts)
    trace = transport.fill_trace(org.trace, public or rcpt)
    sdom = sender.rsplit("@", 1)[1]
    top: list[str] = []
    bottom: list[str] = []
    if mode == "google" and public:
        ts_in = ts + rng.randrange(1, 4)
        ts_out = ts_in + rng.randrange(1, 6)
        receipt = ts_out + rng.randrange(0, 2)
        top, return_path, helo, ip = transport.google_forward(
            rng, public=public, inbound=rcpt, sender=sender, origin_=org, ts_in=ts_in, ts_out=ts_out
        )
        tdom = public.split("@")[1]
        dkim = [("pass", org.dkim_domain)] if org.dkim_domain else []
        dkim.append(("pass", f"{tdom.replace('.', '-')}.20230601.gappssmtp.com"))
        auth = transport.Auth("pass", dkim, "pass" if org.dkim_domain else "none", sdom)
    elif mode == "microsoft" and public:
        ts_in = ts + rng.randrange(1, 5)
        ts_out = ts_in + rng.randrange(1, 25)
        receipt = ts_out + rng.randrange(0, 2)
        top, bottom, return_path, helo, ip = transport.microsoft_forward(
            rng,
            public=public,
            inbound=rcpt,
            sender=sender,
            origin_=org,
            ts_in=ts_in,
            ts_out=ts_out,
            loop_header=ms_loop,
        )
        broken = rng.random() < 0.25
        dkim = [("fail" if broken else "pass", org.dkim_domain)] if org.dkim_domain else []
        dmarc = "fail" if (broken or not org.dkim_domain) else "pass"
        auth = transport.Auth("pass", dkim, dmarc, sdom)
    else:
        receipt = ts + rng.randrange(1, 4)
        return_path, helo, ip = sender, org.helo, org.ip
        dkim = [("pass", org.dkim_domain)] if org.dkim_domain else []
        auth = transport.Auth("pass", dkim, "pass" if org.dkim_domain else "none", sdom)
        mode = "direct"
    if auth_fail:
        auth = transport.Auth(rng.choice(("softfail", "fail", "neutral")), [], "fail", sdom)
    block = transport.ses_block(
        rng,
        ses_id=ses_id,
        ts=receipt,
        return_path=return_path,
        helo=helo,
        ip=ip,
        rcpt=rcpt,
        auth=auth,
        spam=spam,
        virus=virus,
        selector=selector,
    )
    head = "\r\n".join(block + top + trace + rendered.headers + bottom)
    raw = head.encode(header_encoding) + b"\r\n\r\n" + rendered.body
    return Delivered(raw, ses_id, receipt, rcpt, mode)


# --------------------------------------------------------------------------------------------
# Awkward objects
# --------------------------------------------------------------------------------------------

UNKNOWN_LOCALS = (
    "admin",
    "postmaster",
    "test",
    "ventas",
    "contacto",
    "noreply",
    "billing",
    "info2",
    "soporte",
    "facturacion",
    "rrhh",
    "caminos-old",
    "webmaster",
    "hola",
)


def unknown_inbound(rng: random.Random, tenants: list[Tenant]) -> str:
    known = {a for t in tenants for a in t.inbound_addresses}
    while True:
        addr = f"{rng.choice(UNKNOWN_LOCALS)}@{INBOUND_DOMAIN}"
        if addr not in known:
            return addr


BAD_DATES = (
    "Thu, 32 Foo 2026 25:61:00 -0300",
    "Mon, 5 Oct 20026 10:00:00 +0000",
    "0000-00-00 00:00:00",
    "Tue, 31 Feb 2026 10:00:00 +0000",
    "hoy a las 10",
    "Sat, 3 Oct 1826 09:15:00 -0300",
    "Fri, 09 Oct 2026 14:30:00 +9900",
)


def replace_header(headers: list[str], name: str, value: str | None) -> list[str]:
    """Replace (or with None remove) a top-level header of a rendered message."""
    low = name.lower() + ":"
    out = []
    for h in headers:
        if h.lower().startswith(low):
            if value is not None:
                out.append(f"{name}: {value}")
        else:
            out.append(h)
    return out


def junk_bytes(rng: random.Random) -> bytes:
    kind = rng.randrange(3)
    data = rng.randbytes(rng.randrange(512, 65536))
    if kind == 0:
        return b"\x1f\x8b\x08\x00" + data
    if kind == 1:
        return b"PK\x03\x04" + data
    return data


def drop_closing_boundary(body: bytes) -> bytes:
    """Cut the final `--boundary--` line: the multipart never terminates."""
    end = body.rstrip(b"\r\n")
    idx = end.rfind(b"\r\n--")
    if idx == -1 or not end.endswith(b"--"):
        return body
    return end[:idx] + b"\r\n"


def huge_to(rng: random.Random, public: str, n: int = 3000) -> str:
    doms = ("example.com", "example.net", "example.org", "correo.example.com", "mail.example.net")
    items = [f"contacto{i}.{hexstr(rng, 4)}@{rng.choice(doms)}" for i in range(n)]
    items.insert(rng.randrange(len(items)), public)
    return mime.address_list(items)


def huge_references(rng: random.Random, n: int = 3000) -> str:
    doms = ("mail.gmail.com", "example.com", "PROD.OUTLOOK.COM", "mail.yahoo.com")
    return mime.fold_text(" ".join(f"<{hexstr(rng, 20)}@{rng.choice(doms)}>" for _ in range(n)))


def draft_for(c: Customer, **kw: Any) -> Draft:
    """A Draft from a customer, with the customer's client settings filled in."""
    return Draft(
        client=c.client,
        lang=c.lang,
        from_name=c.display,
        from_addr=c.address,
        mobile=c.mobile,
        ui_lang=c.ui_lang,
        **kw,
    )
