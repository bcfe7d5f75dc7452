"""How the mail clients customers use actually write a message.

Gmail, Outlook (web and desktop), Apple Mail, Yahoo, Thunderbird and Zimbra differ in header
order, Message-ID shape, charset choice (Outlook still prefers ISO-8859-1 / Windows-1252),
transfer encoding, encoded-word style, attachment parameter encoding (RFC 2231 vs RFC 2047 in
quotes), MIME structure and quoting. A `Draft` says what to send; `render` turns it into header
lines and body bytes exactly as that client would, and reports what a parser must recover.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field

from . import mime
from .mime import CRLF
from .text import (
    DIAS_ES,
    DIAS_ES_LARGO,
    DIAS_PT,
    DIAS_PT_LARGO,
    MESES_ES,
    MESES_PT,
    lang_base,
)

CLIENTS = ("gmail", "outlook", "apple", "yahoo", "thunderbird", "zimbra")

REPLY_PREFIX = {"es": "RE:", "pt": "RES:", "de": "AW:", "fr": "RE:", "en": "RE:"}
FORWARD_PREFIX = {"es": "RV:", "pt": "ENC:", "de": "WG:", "fr": "TR:", "en": "FW:"}

CT_PDF = "application/pdf"
CT_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CT_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONTENT_TYPES = {
    "pdf": CT_PDF,
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "docx": CT_DOCX,
    "xlsx": CT_XLSX,
    "zip": "application/zip",
    "eml": "message/rfc822",
}
MAGIC = {
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "jpeg": b"\xff\xd8\xff\xe1\x00\x18Exif\x00\x00",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "docx": b"PK\x03\x04\x14\x00\x06\x00",
    "xlsx": b"PK\x03\x04\x14\x00\x06\x00",
    "zip": b"PK\x03\x04\x14\x00\x00\x00",
}


def ext_of(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"


@dataclass(slots=True)
class Attachment:
    filename: str | None
    content_type: str
    data: bytes
    content_id: str | None = None
    """Set for inline parts referenced from HTML (cid:)."""
    rfc822: bool = False
    bad_base64: bool = False
    """Write a corrupted base64 body: the decoded content is then undefined."""


@dataclass(slots=True)
class Draft:
    """What someone wants to send, independent of the client that will encode it."""

    client: str
    lang: str
    from_name: str
    from_addr: str
    to: list[tuple[str, str]]
    subject: str | None
    text: str
    date_ts: int
    offset: int
    message_id: str
    cc: list[tuple[str, str]] = field(default_factory=list)
    reply_to: list[tuple[str, str]] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    thread_index: str | None = None
    thread_topic: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    logo: Attachment | None = None
    html: bool = True
    html_only: bool = False
    mobile: bool = False
    ui_lang: str = "es"


@dataclass(slots=True)
class Rendered:
    headers: list[str]
    body: bytes
    text: str | None
    """The plain text a parser must decode from the text part; None when html-only."""
    html_first_text: str | None
    charset: str
    cte: str
    traits: list[str]


# --------------------------------------------------------------------------------------------
# ids
# --------------------------------------------------------------------------------------------

_B32 = "0123456789abcdefghijklmnopqrstuv"
_ALNUM_UP = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_OUTLOOK_HOSTS = (
    ("CP4P284", "BRAP284"),
    ("RO2P284", "BRAP284"),
    ("SA1P223", "NAMP223"),
    ("DM6PR02", "namprd02"),
    ("BN8PR12", "namprd12"),
    ("AM0PR04", "eurprd04"),
    ("PAXPR08", "eurprd08"),
    ("SJ0PR11", "namprd11"),
)


def uuid4(rng: random.Random, upper: bool = False) -> str:
    """A version-4 UUID drawn from the archive's RNG (uuid.uuid4 would break determinism)."""
    v = rng.getrandbits(128)
    v = (v & ~(0xF000 << 64)) | (0x4000 << 64)
    v = (v & ~(0xC000 << 48)) | (0x8000 << 48)
    h = f"{v:032x}"
    s = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return s.upper() if upper else s


def hexstr(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def b64blob(rng: random.Random, nbytes: int) -> str:
    return base64.b64encode(rng.randbytes(nbytes)).decode("ascii")


def ses_inbound_id(rng: random.Random) -> str:
    n = 40 if rng.random() < 0.93 else rng.randrange(28, 40)
    return "".join(rng.choices(_B32, k=n))


def outlook_host(rng: random.Random) -> tuple[str, str]:
    pre, site = rng.choice(_OUTLOOK_HOSTS)
    short = f"{pre}MB{rng.randrange(1000, 9999)}"
    return short, f"{short}.{site.upper()}.PROD.OUTLOOK.COM"


def message_id_for(client: str, rng: random.Random, domain: str, ts: int) -> str:
    """A bare Message-ID (no brackets) shaped like the client's."""
    if client == "gmail":
        tail = base64.b64encode(rng.randbytes(39)).decode("ascii").replace("/", "-")
        return f"CA{rng.choice('BEFGJKLM')}{tail}@mail.gmail.com"
    if client == "outlook":
        short, host = outlook_host(rng)
        return f"{short}{hexstr(rng, 28).upper()}@{host}"
    if client == "apple":
        return f"{uuid4(rng, upper=True)}@{domain}"
    if client == "yahoo":
        return (
            f"{rng.randrange(10**9, 2 * 10**9)}.{rng.randrange(10**6, 10**7)}.{ts * 1000 + rng.randrange(1000)}"
            "@mail.yahoo.com"
        )
    if client == "zimbra":
        return (
            f"{rng.randrange(10**8, 10**9)}.{rng.randrange(10**5, 10**6)}.{ts * 1000 + rng.randrange(1000)}"
            f".JavaMail.zimbra@{domain}"
        )
    return f"{uuid4(rng)}@{domain}"


def thread_index(rng: random.Random, ts: int, guid: bytes, children: int) -> str:
    """Outlook's Thread-Index: 6 bytes of FILETIME + 16-byte conversation GUID + 5 bytes per reply."""
    ft = (ts + 11644473600) * 10_000_000
    head = ft.to_bytes(8, "big")[:6] + guid
    blocks = b"".join(
        ((((i + 1) * 0x2A3B + rng.randrange(0x7FFF)) << 9 | rng.randrange(256)) & 0xFFFFFFFFFF).to_bytes(5, "big")
        for i in range(children)
    )
    return base64.b64encode(head + blocks).decode("ascii")


def boundary_for(client: str, rng: random.Random, kind: str, msgid: str = "") -> str:
    if client == "gmail":
        return "000000000000" + hexstr(rng, 16)
    if client == "outlook":
        tag = {"alt": "000", "mixed": "004", "related": "005"}[kind]
        return f"_{tag}_{msgid.split('@')[0][:40]}_"
    if client == "apple":
        return f"Apple-Mail={'_' if rng.random() < 0.5 else '-'}{uuid4(rng, upper=True)}"
    if client == "yahoo":
        stamp = rng.randrange(10**12, 2 * 10**12)
        return f"----=_Part_{rng.randrange(10**6, 10**7)}_{rng.randrange(10**8, 10**9)}.{stamp}"
    if client == "zimbra":
        return f"=_{uuid4(rng)}"
    if client == "python":
        return f"==============={rng.randrange(10**18, 10**19)}=="
    return "------------" + "".join(rng.choices(_ALNUM_UP + "abcdefghijklmnopqrstuvwxyz", k=24))


# --------------------------------------------------------------------------------------------
# Quoting the previous message
# --------------------------------------------------------------------------------------------


def quote_block(
    client: str, lang: str, ts: int, offset: int, name: str, addr: str, to: str, subject: str, quoted: str
) -> str:
    """Attribution line + quoted text the way each client writes a reply."""
    t = mime.local_parts(ts, offset)
    hhmm = f"{t.tm_hour}:{t.tm_min:02d}"
    pt = lang_base(lang) == "pt"
    meses = MESES_PT if pt else MESES_ES
    mon3 = meses[t.tm_mon - 1][:3]
    gt = "\n".join(("> " + line) if line else ">" for line in quoted.split("\n"))
    if client == "outlook":
        if pt:
            head = (
                f"De: {name} <{addr}>\nEnviado: {DIAS_PT_LARGO[t.tm_wday]}, {t.tm_mday} de "
                f"{meses[t.tm_mon - 1]} de {t.tm_year} {hhmm}\nPara: {to}\nAssunto: {subject}"
            )
        else:
            head = (
                f"De: {name} <{addr}>\nEnviado: {DIAS_ES_LARGO[t.tm_wday]}, {t.tm_mday} de "
                f"{meses[t.tm_mon - 1]} de {t.tm_year} {hhmm}\nPara: {to}\nAsunto: {subject}"
            )
        return "________________________________\n" + head + "\n\n" + quoted
    if client == "zimbra":
        word = "Mensagem original" if pt else "Mensaje original"
        return (
            f'----- {word} -----\nDe: "{name}" <{addr}>\nPara: {to}\n'
            f"{'Enviadas' if pt else 'Enviados'}: {t.tm_mday}/{t.tm_mon}/{t.tm_year} {hhmm}\n"
            f"{'Assunto' if pt else 'Asunto'}: {subject}\n\n" + quoted
        )
    if client == "apple":
        line = (
            f"Em {t.tm_mday} de {mon3}. de {t.tm_year}, à(s) {hhmm}, {name} <{addr}> escreveu:"
            if pt
            else f"El {t.tm_mday} {mon3} {t.tm_year}, a las {hhmm}, {name} <{addr}> escribió:"
        )
        return line + "\n\n" + gt
    if client == "thunderbird":
        line = (
            f"Em {t.tm_mday:02d}/{t.tm_mon:02d}/{t.tm_year} {hhmm}, {name} escreveu:"
            if pt
            else f"El {t.tm_mday}/{t.tm_mon}/{t.tm_year % 100} a las {hhmm}, {name} escribió:"
        )
        return line + "\n" + gt
    if client == "yahoo":
        line = (
            f"Em {DIAS_PT_LARGO[t.tm_wday]}, {t.tm_mday} de {meses[t.tm_mon - 1]} de {t.tm_year} "
            f"{hhmm}:{t.tm_sec:02d} BRT, {name} <{addr}> escreveu:"
            if pt
            else f"El {DIAS_ES_LARGO[t.tm_wday]}, {t.tm_mday} de {meses[t.tm_mon - 1]} de {t.tm_year}, "
            f"{hhmm}:{t.tm_sec:02d} ART, {name} <{addr}> escribió:"
        )
        return line + "\n\n" + gt
    # gmail and anything else
    if pt:
        line = f"Em {DIAS_PT[t.tm_wday]}, {t.tm_mday} de {mon3}. de {t.tm_year} às {hhmm}, {name} <{addr}> escreveu:"
    else:
        line = f"El {DIAS_ES[t.tm_wday]}, {t.tm_mday} {mon3} {t.tm_year} a las {hhmm}, {name} (<{addr}>) escribió:"
    return line + "\n\n" + gt


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_OUTLOOK_HEAD = (
    '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
    'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
    'xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n<meta http-equiv="Content-Type" content="text/html; '
    'charset={charset}">\n<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n'
    '<style><!--\n/* Font Definitions */\n@font-face\n\t{font-family:"Cambria Math";\n'
    "\tpanose-1:2 4 5 3 5 4 6 3 2 4;}\n"
    "@font-face\n\t{font-family:Calibri;\n\tpanose-1:2 15 5 2 2 2 4 3 2 4;}\n@font-face\n\t{font-family:Aptos;}\n"
    "/* Style Definitions */\np.MsoNormal, li.MsoNormal, div.MsoNormal\n\t{margin:0cm;\n\tfont-size:11.0pt;\n"
    '\tfont-family:"Aptos",sans-serif;\n\tmso-ligatures:standardcontextual;\n\tmso-fareast-language:EN-US;}\n'
    "a:link, span.MsoHyperlink\n\t{mso-style-priority:99;\n\tcolor:#467886;\n\ttext-decoration:underline;}\n"
    'span.EstiloCorreo17\n\t{mso-style-type:personal-compose;\n\tfont-family:"Aptos",sans-serif;\n\tcolor:windowtext;}\n'
    ".MsoChpDefault\n\t{mso-style-type:export-only;\n\tfont-size:11.0pt;\n\tmso-fareast-language:EN-US;}\n"
    "@page WordSection1\n\t{size:612.0pt 792.0pt;\n\tmargin:70.85pt 3.0cm 70.85pt 3.0cm;}\n"
    "div.WordSection1\n\t{page:WordSection1;}\n--></style><!--[if gte mso 9]><xml>\n"
    '<o:shapedefaults v:ext="edit" spidmax="1026" />\n</xml><![endif]--><!--[if gte mso 9]><xml>\n'
    '<o:shapelayout v:ext="edit">\n<o:idmap v:ext="edit" data="1" />\n</o:shapelayout></xml><![endif]-->\n'
    '</head>\n<body lang="ES-AR" link="#467886" vlink="#96607D" style="word-wrap:break-word">\n'
    '<div class="WordSection1">\n'
)


def _split_quote(text: str) -> tuple[list[str], list[str]]:
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(("> ", ">", "________", "----- ")) or (
            line.startswith(("El ", "Em ")) and line.endswith((":",)) and i > 0 and len(line) > 30
        ):
            return lines[:i], lines[i:]
    return lines, []


def html_for(client: str, text: str, charset: str, logo_cid: str | None) -> str:
    """An HTML alternative of `text` in the client's style (sizes matter for realism)."""
    own, quoted = _split_quote(text)
    esc = mime.html_escape
    if client == "outlook":
        body = "".join(
            f'<p class="MsoNormal">{esc(line) if line else "<o:p>&nbsp;</o:p>"}<o:p></o:p></p>\n' for line in own
        )
        if logo_cid:
            body += (
                f'<p class="MsoNormal"><img width="180" height="60" style="width:1.875in;height:.625in" '
                f'id="Imagen_x0020_1" src="cid:{logo_cid}" alt="logo"><o:p></o:p></p>\n'
            )
        if quoted:
            body += (
                '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">\n'
                + "".join(f'<p class="MsoNormal">{esc(line)}<o:p></o:p></p>\n' for line in quoted)
                + "</div>\n"
            )
        return _OUTLOOK_HEAD.replace("{charset}", charset) + body + "</div>\n</body>\n</html>\n"
    if client == "gmail":
        inner = "".join(f"<div>{esc(line)}</div>" if line else "<div><br></div>" for line in own)
        out = f'<div dir="ltr">{inner}</div>'
        if logo_cid:
            out += f'<div><img src="cid:{logo_cid}" alt="image.png" width="320" height="120"><br></div>'
        if quoted:
            attr, rest = quoted[0], quoted[1:]
            rest_html = "<br>".join(esc(line[2:] if line.startswith("> ") else line.lstrip(">")) for line in rest)
            out += (
                f'<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">'
                f'{esc(attr)}<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
                f'border-left:1px solid rgb(204,204,204);padding-left:1ex">{rest_html}</blockquote></div>'
            )
        return out + "\n"
    if client == "yahoo":
        inner = "".join(f"<div>{esc(line)}</div>" if line else '<div><br clear="none"></div>' for line in own)
        q = "".join(f"<div>{esc(line)}</div>" for line in quoted)
        return (
            f'<html><head></head><body><div class="ydp5f2c3a1byahoo-style-wrap" style="font-family:Helvetica '
            f'Neue, Helvetica, Arial, sans-serif;font-size:16px;">{inner}</div>'
            f'<div id="yahoo_quoted_1234" class="yahoo_quoted">{q}</div></body></html>\n'
        )
    inner = "<br>\n".join(esc(line) for line in own)
    q = "<br>\n".join(esc(line) for line in quoted)
    quote_html = f'<blockquote type="cite">{q}</blockquote>' if quoted else ""
    if client == "apple":
        return (
            f'<html aria-label="message body"><head><meta http-equiv="content-type" content="text/html; '
            f'charset=utf-8"></head><body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; '
            f'line-break: after-white-space;">{inner}{quote_html}</body></html>\n'
        )
    return (
        f'<!DOCTYPE html>\n<html>\n  <head>\n    <meta http-equiv="Content-Type" content="text/html; '
        f'charset={charset}">\n  </head>\n  <body>\n    <p>{inner}</p>\n    {quote_html}\n  </body>\n</html>\n'
    )


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

_CHARSET_CHAIN = {
    "gmail": ("UTF-8",),
    "apple": ("utf-8",),
    "yahoo": ("UTF-8",),
    "outlook": ("iso-8859-1", "Windows-1252", "utf-8"),
    "thunderbird": ("UTF-8",),
    "zimbra": ("ISO-8859-1", "UTF-8"),
}
_CTE = {
    "gmail": "quoted-printable",
    "apple": "quoted-printable",
    "yahoo": "quoted-printable",
    "outlook": "quoted-printable",
    "thunderbird": "8bit",
    "zimbra": "base64",
}


def pick_charset(client: str, texts: list[str], legacy: bool = False) -> str:
    chain = _CHARSET_CHAIN[client]
    if client == "thunderbird" and legacy:
        chain = ("windows-1252", "UTF-8")
    for cs in chain:
        if all(mime.can_encode(t, cs) for t in texts):
            return cs
    return "UTF-8"


def _addr_header(name: str, pairs: list[tuple[str, str]], charset: str, mode: str, quote: bool) -> str:
    items = [mime.format_address(n, a, charset, mode, quote) for n, a in pairs]
    return f"{name}: " + mime.address_list(items)


def _subject_header(client: str, subject: str, charset: str, rng: random.Random) -> str:
    if client == "gmail":
        value = mime.encode_unstructured(subject, "UTF-8", "B" if rng.random() < 0.75 else "Q")
    elif client == "outlook":
        value = mime.encode_unstructured(subject, charset, "Q", "prefix" if rng.random() < 0.4 else "whole")
    elif client == "apple":
        value = mime.encode_unstructured(subject, "utf-8", "Q", "words")
    elif client == "yahoo":
        value = mime.encode_unstructured(subject, "UTF-8", "B")
    elif client == "thunderbird":
        value = mime.encode_unstructured(subject, "UTF-8", "Q", "whole" if rng.random() < 0.6 else "words")
    else:
        value = mime.encode_unstructured(subject, charset if charset.lower() != "utf-8" else "UTF-8", "Q")
    return "Subject: " + value


Leaf = tuple[list[str], bytes]
"""A MIME entity as (header lines, body bytes)."""


def _text_part(text: str, charset: str, cte: str, client: str, flowed: bool = False) -> Leaf:
    if cte == "quoted-printable" and text.isascii() and max(map(len, text.split("\n"))) < 77:
        cte = "7bit"
    if client == "apple":
        ct = f"Content-Type: text/plain;{CRLF}\tcharset={charset}"
    elif client in ("gmail", "outlook"):
        ct = f'Content-Type: text/plain; charset="{charset}"'
    elif client == "thunderbird":
        ct = f"Content-Type: text/plain; charset={charset}" + ("; format=flowed" if flowed else "")
    else:
        ct = f"Content-Type: text/plain; charset={charset}"
    headers = [ct]
    if cte != "7bit" or client in ("outlook", "apple", "yahoo", "thunderbird"):
        headers.append(f"Content-Transfer-Encoding: {cte}")
    return headers, mime.encode_body(text, charset, cte)


def _html_part(html: str, charset: str, cte: str, client: str) -> Leaf:
    if cte == "8bit" and client != "thunderbird":
        cte = "quoted-printable"
    if client == "apple":
        ct = f"Content-Type: text/html;{CRLF}\tcharset={charset}"
    elif client in ("gmail", "outlook"):
        ct = f'Content-Type: text/html; charset="{charset}"'
    else:
        ct = f"Content-Type: text/html; charset={charset}"
    return [ct, f"Content-Transfer-Encoding: {cte}"], mime.encode_body(html, charset, cte)


def _mp_type(client: str, subtype: str, boundary: str, extra: str = "") -> str:
    if client == "apple":
        return f'Content-Type: multipart/{subtype};{CRLF}\tboundary="{boundary}"{extra}'
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"{extra}'


def _attachment_part(att: Attachment, client: str, rng: random.Random) -> bytes:
    fname = att.filename or "adjunto"
    if att.rfc822:
        headers = ["Content-Type: message/rfc822"]
        if att.filename:
            headers.append("Content-Disposition: attachment;" + CRLF + " " + mime.param("filename", fname, "rfc2231"))
        return mime.leaf(headers, att.data)
    if client == "gmail" or client == "outlook":
        style = "rfc2047"
    elif client == "apple":
        style = "rfc2231_split"
    elif client == "zimbra":
        style = "rfc2231"
    else:
        style = "rfc2231"
    ct = att.content_type
    name_param = mime.param("name", fname, style if style != "rfc2231_split" else "rfc2231", "utf-8")
    inline = att.content_id is not None
    disp = "inline" if inline else "attachment"
    if client == "outlook" and not fname.isascii():
        fn_param = mime.param("filename", fname, "rfc2231", "utf-8")
    elif client == "zimbra" and not fname.isascii():
        fn_param = mime.param(
            "filename", fname, "rfc2231", "iso-8859-1" if mime.can_encode(fname, "iso-8859-1") else "utf-8"
        )
    else:
        fn_param = mime.param("filename", fname, style, "utf-8")
    if client == "apple":
        headers = [
            f"Content-Disposition: {disp};{CRLF}\t{fn_param.replace(CRLF + ' ', CRLF + chr(9))}",
            f"Content-Type: {ct};{CRLF}\tx-unix-mode=0644;{CRLF}\t{name_param}",
            "Content-Transfer-Encoding: base64",
        ]
        if inline:
            headers.append(f"Content-Id: <{att.content_id}>")
    else:
        headers = [
            f"Content-Type: {ct}; {name_param}",
            f"Content-Disposition: {disp};{CRLF} {fn_param}",
            "Content-Transfer-Encoding: base64",
        ]
        if client == "outlook":
            headers.insert(1, f"Content-Description: {fname if fname.isascii() else 'adjunto'}")
            if inline:
                headers.append(f"Content-ID: <{att.content_id}>")
        elif client == "gmail":
            cid = att.content_id or f"f_{hexstr(rng, 9)}{rng.randrange(10)}"
            headers.append(f"Content-ID: <{cid}>")
            headers.append(f"X-Attachment-Id: {cid}")
        elif inline:
            headers.append(f"Content-ID: <{att.content_id}>")
    body = mime.b64_lines(att.data)
    if att.bad_base64:
        body = _corrupt_base64(body, rng)
    return mime.leaf(headers, body)


def _corrupt_base64(body: bytes, rng: random.Random) -> bytes:
    """Damage the encoding the way broken gateways do: a stray byte run, an impossible length."""
    lines = body.split(b"\r\n")
    mid = max(1, len(lines) // 2)
    lines[mid] = lines[mid][:37] + b"!!*%" + lines[mid][37:-5]
    lines[-2] = lines[-2][:-3]
    return b"\r\n".join(lines)


def render(d: Draft, rng: random.Random) -> Rendered:
    """Headers (folded ASCII lines, top-level Content-Type included) and body of a client message."""
    c = d.client
    traits: list[str] = [f"client:{c}"]
    text = d.text
    if d.mobile and c == "apple":
        text += "\n\n" + ("Enviado do meu iPhone" if lang_base(d.lang) == "pt" else "Enviado desde mi iPhone")
    names = [d.from_name] + [n for n, _ in d.to + d.cc]
    charset = pick_charset(c, [text, d.subject or "", *names], legacy=rng.random() < 0.3)
    cte = _CTE[c]
    if c == "gmail" and text.isascii():
        cte = "7bit"
    traits.append(f"charset:{charset.lower()}")
    name_cs = charset if c in ("outlook", "zimbra") else "UTF-8"
    if not all(mime.can_encode(n, name_cs) for n in names):
        name_cs = "UTF-8"
    name_mode = "B" if c == "yahoo" else "Q"

    # --- body structure
    html_first: str | None = None
    body_text: str | None = text
    core: Leaf
    if d.html_only:
        html = html_for(c, text, charset, d.logo.content_id if d.logo else None)
        html_first = next((ln for ln in text.split("\n") if ln.strip()), None)
        core = _html_part(html, charset, "quoted-printable" if c != "zimbra" else "base64", c)
        body_text = None
        traits.append("html_only")
    elif d.html:
        html = html_for(c, text, charset, d.logo.content_id if d.logo else None)
        b_alt = boundary_for(c, rng, "alt", d.message_id)
        tp = _text_part(text, charset, cte, c, flowed=c == "thunderbird")
        hp = _html_part(html, charset, cte, c)
        core = [_mp_type(c, "alternative", b_alt)], mime.multipart(b_alt, [mime.leaf(*tp), mime.leaf(*hp)])
        traits.append("html")
    else:
        core = _text_part(text, charset, cte, c, flowed=c == "thunderbird")
    traits.append(f"cte:{cte}")

    if d.logo and (d.html or d.html_only):
        b_rel = boundary_for(c, rng, "related", d.message_id)
        inner_type = "multipart/alternative" if d.html else "text/html"
        core = (
            [_mp_type(c, "related", b_rel, f'; type="{inner_type}"')],
            mime.multipart(b_rel, [mime.leaf(*core), _attachment_part(d.logo, c, rng)]),
        )
        traits.append("inline_image")

    if d.attachments:
        b_mix = boundary_for(c, rng, "mixed", d.message_id)
        parts = [mime.leaf(*core)] + [_attachment_part(a, c, rng) for a in d.attachments]
        preamble = "This is a multi-part message in MIME format." if c == "thunderbird" else ""
        top_headers, body = [_mp_type(c, "mixed", b_mix)], mime.multipart(b_mix, parts, preamble=preamble)
        traits.append("attachment")
        if any(a.rfc822 for a in d.attachments):
            traits.append("rfc822")
    else:
        top_headers, body = core

    # --- headers
    from_h = "From: " + mime.format_address(d.from_name, d.from_addr, name_cs, name_mode)
    to_quote = c == "outlook"
    to_pairs = [((n or a) if c == "outlook" else n, a) for n, a in d.to]
    to_h = _addr_header("To", to_pairs, name_cs, name_mode, to_quote)
    cc_h = _addr_header("CC" if c == "outlook" else "Cc", d.cc, name_cs, name_mode, to_quote) if d.cc else None
    rt_h = _addr_header("Reply-To", d.reply_to, name_cs, name_mode, False) if d.reply_to else None
    subj_h = _subject_header(c, d.subject, charset, rng) if d.subject is not None else None
    date_h = "Date: " + mime.rfc2822(d.date_ts, d.offset, pad_day=c == "outlook")
    mid_h = f"Message-ID: <{d.message_id}>" if c != "apple" else f"Message-Id: <{d.message_id}>"
    refs_h = "References: " + mime.fold_text(" ".join(f"<{r}>" for r in d.references)) if d.references else None
    irt_h = f"In-Reply-To: <{d.in_reply_to}>" if d.in_reply_to else None
    mv = "MIME-Version: 1.0"
    h: list[str | None]
    if c == "gmail":
        h = [mv, refs_h, irt_h, from_h, date_h, mid_h, subj_h, to_h, cc_h, rt_h, *top_headers]
    elif c == "outlook":
        topic = f"Thread-Topic: {mime.encode_unstructured(d.thread_topic, charset, 'Q')}" if d.thread_topic else None
        idx = f"Thread-Index: {d.thread_index}" if d.thread_index else None
        lang_tag = {"es": "es-AR", "pt": "pt-BR", "de": "de-DE", "fr": "fr-FR", "en": "en-US"}[d.ui_lang]
        h = [
            from_h,
            to_h,
            cc_h,
            rt_h,
            subj_h,
            topic,
            idx,
            date_h,
            mid_h,
            refs_h,
            irt_h,
            f"Accept-Language: {lang_tag}, en-US",
            f"Content-Language: {lang_tag}",
            f"X-MS-Has-Attach: {'yes' if d.attachments else ''}",
            "X-MS-TNEF-Correlator:",
            *top_headers,
            mv,
        ]
        if d.thread_index:
            traits.append("thread_index")
    elif c == "apple":
        h = [
            *top_headers,
            "Mime-Version: 1.0 (1.0)",
            subj_h,
            from_h,
            irt_h,
            refs_h,
            cc_h,
            rt_h,
            date_h,
            to_h,
            mid_h,
            "X-Mailer: iPhone Mail (22A3354)" if d.mobile else "X-Mailer: Apple Mail (2.3826.300.87.4.3)",
        ]
    elif c == "yahoo":
        h = [
            date_h,
            from_h,
            to_h,
            cc_h,
            rt_h,
            mid_h,
            irt_h,
            refs_h,
            subj_h,
            mv,
            *top_headers,
            "X-Mailer: WebService/1.1.22806 YMailNorrin",
        ]
    elif c == "thunderbird":
        h = [
            mid_h,
            date_h,
            mv,
            "User-Agent: Mozilla Thunderbird",
            "Content-Language: " + ("pt-BR" if lang_base(d.lang) == "pt" else "es-AR"),
            to_h,
            cc_h,
            rt_h,
            refs_h,
            irt_h,
            from_h,
            subj_h,
            *top_headers,
        ]
    else:  # zimbra
        h = [
            date_h,
            from_h,
            to_h,
            cc_h,
            rt_h,
            mid_h,
            irt_h,
            refs_h,
            subj_h,
            mv,
            *top_headers,
            "X-Originating-IP: [192.0.2.44]",
            "X-Mailer: Zimbra 8.8.15_GA_4581 (ZimbraWebClient - GC129 (Win)/8.8.15_GA_4581)",
            "Thread-Topic: " + mime.encode_unstructured(d.thread_topic or "", charset, "Q") if d.thread_topic else None,
        ]
    headers = [x for x in h if x is not None]
    if not d.html_only and body_text is not None and not body_text.isascii():
        traits.append("non_ascii_body")
    if d.subject is not None and not d.subject.isascii():
        traits.append("rfc2047_subject")
    return Rendered(headers, body, body_text, html_first, charset, cte, traits)
