"""Hand-built messages for every repair the parser promises, and the helpers that build and compare them."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import quopri

from pipelines.mime.message import ParsedMessage
from tests.conftest import COMPOSED_SES

SPANISH = "Atención: ¿cuándo llega mi pedido? Señor Muñoz – 50 €"
PORTUGUESE = "Não recebi a confirmação"
INVOICE = b"%PDF-1.4\n% factura de prueba\n" + bytes(range(256)) * 4


def mail(
    headers: str,
    body: bytes | str = b"",
    *,
    date: str | None = "Tue, 3 Mar 2026 10:00:00 -0300",
    subject: str | None = "prueba",
    to: str | None = "soporte@tenant.example",
) -> bytes:
    """A message with CRLF line endings; `headers` is written with LF for readability."""
    head = "From: Ana <ana@example.com>\n"
    for name, value in (("To", to), ("Subject", subject), ("Date", date)):
        if value is not None:
            head += f"{name}: {value}\n"
    head += "Message-ID: <m1@example.com>\n" + headers
    raw = head.strip("\n").replace("\n", "\r\n").encode("utf-8") + b"\r\n\r\n"
    return raw + (body.encode("utf-8") if isinstance(body, str) else body)


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def word_b(text: str, charset: str = "utf-8") -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fields(message: ParsedMessage) -> dict[str, object]:
    """Every field but the name of the path that produced it."""
    values = dataclasses.asdict(message)
    values.pop("parser")
    return values


def multipart(boundary: str, *parts: bytes, close: bool = True) -> bytes:
    out = b"This is a multi-part message in MIME format.\r\n"
    for part in parts:
        out += f"--{boundary}\r\n".encode() + part + b"\r\n"
    if close:
        out += f"--{boundary}--\r\nepilogue text\r\n".encode()
    return out


# --------------------------------------------------------------------------------------------
# Hand-built messages. The well-formed ones must read the same on every path.

PDF_PART = (
    b"Content-Type: application/pdf; name*=utf-8''factura_a%C3%B1o_2026.pdf\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''factura_a%C3%B1o_2026.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(INVOICE)
)
FORWARDED = (
    b"From: Otro <otro@example.net>\r\nSubject: pedido original\r\nDate: Mon, 2 Mar 2026 09:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nINNER TEXT that must not leak into the body\r\n"
)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

WELL_FORMED: dict[str, bytes] = {
    "ses_block": COMPOSED_SES.joinpath("received-headers.txt").read_bytes() if COMPOSED_SES.exists() else b"",
    "subject_split_words": mail(
        "Subject: "
        + word_b("Atención: ¿cuándo")
        + "\n =?utf-8?q?_llega_mi_pedido=3F_Se=C3?= =?utf-8?q?=B1or_Mu=C3=B1oz?=",
        "hola\r\n",
        subject=None,
    ),
    "cp1252_qp": mail(
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=windows-1252\n"
        "Content-Transfer-Encoding: quoted-printable",
        quopri.encodestring((SPANISH + "\r\n").encode("cp1252")),
    ),
    "latin1_label_cp1252_bytes_b64": mail(
        'Content-Type: text/plain; charset="ISO-8859-1"\nContent-Transfer-Encoding: base64',
        b64((SPANISH + "\r\n").encode("cp1252")),
    ),
    "utf8_b64": mail(
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64", b64(SPANISH.encode("utf-8"))
    ),
    "portuguese_latin1_qp": mail(
        "Subject: =?iso-8859-1?Q?N=E3o_recebi_a_confirma=E7=E3o?=\n"
        "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable",
        b"Ol=E1,\r\nN=E3o recebi a confirma=E7=E3o do pedido. Este par=\r\n=E1grafo =E9 longo.\r\n",
        subject=None,
    ),
    "html_only": mail(
        "Content-Type: text/html; charset=utf-8",
        "<html><head><style>p {color: red}</style></head><body><p>Hola <b>Ana</b>,</p><p>Tu pedido "
        '<a href="https://shop.example/o/1234">1234</a> llegó.</p><img src="cid:logo" alt="logo">'
        "<table><tr><td>Total</td><td>50 &euro;</td></tr></table></body></html>\r\n",
    ),
    "alternative_with_invoice": mail(
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="mix"',
        multipart(
            "mix",
            b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
            + multipart(
                "alt",
                b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                + quopri.encodestring(f"{PORTUGUESE}\r\n\r\n> mensaje anterior\r\n".encode()),
                b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>" + PORTUGUESE.encode() + b"</p>",
            ),
            PDF_PART,
        ),
    ),
    "rfc2231_continuations_and_2047_names": mail(
        'Content-Type: multipart/mixed; boundary="b"',
        multipart(
            "b",
            b"Content-Type: text/plain\r\n\r\nadjunto",
            b"Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
            b" filename*0*=utf-8''factura_a%C3%B1;\r\n filename*1*=o_2026.pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(INVOICE),
            f'Content-Type: application/pdf; name="{word_b("factura_año_2026.pdf")}"\r\n'.encode()
            + b"Content-Transfer-Encoding: base64\r\n\r\n"
            + b64(INVOICE),
        ),
    ),
    "inline_image": mail(
        'Content-Type: multipart/related; boundary="rel"',
        multipart(
            "rel",
            b'Content-Type: text/html; charset=utf-8\r\n\r\n<p>Logo: <img src="cid:logo@shop.example"></p>',
            b"Content-Type: image/png\r\nContent-ID: <logo@shop.example>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + b64(PNG),
        ),
    ),
    "forwarded_message": mail(
        'Content-Type: multipart/mixed; boundary="fw"',
        multipart(
            "fw",
            "Content-Type: text/plain; charset=utf-8\r\n\r\nTe reenvío el pedido.\r\n".encode(),
            b'Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="pedido.eml"\r\n\r\n'
            + FORWARDED,
        ),
    ),
    "addresses_and_ids": mail(
        'Cc: "Pérez, Ana" <Ana.Perez@Example.COM>, =?utf-8?q?Jos=C3=A9_L=C3=B3pez?= <jose@EXAMPLE.org>,\n'
        " equipo: uno@example.com, Dos <dos@Example.com>;, tres@example.com (Tres Apellido)\n"
        "Bcc: undisclosed-recipients:;\n"
        "Reply-To: Norton I., Emperor <norton@SF.example>\n"
        "Sender: =?utf-8?q?Soporte?= <soporte@tenant.example>\n"
        "In-Reply-To: <parent@example.com>\n"
        "References: <root@example.com>\n <parent@example.com>\n"
        "X-Forwarded-To: Fwd@Tenant.example, other@tenant.example\n"
        "Delivered-To: fwd@tenant.example\n"
        "X-Original-To: <orig@tenant.example> last@tenant.example\n"
        "X-SES-Tenant: tenant-42\nX-SES-Configuration-Set: outbound\nX-SES-Message-Tags: tenant=42, campaign=oto\n"
        "Thread-Index: AdmABCDEF==\nList-Id: <news.example.com>\nAuto-Submitted: auto-replied\n"
        "X-Mailer: Microsoft Outlook 16.0\nContent-Language: es-AR\nX-Forwarded-For: a@x.example b@y.example\n"
        "Content-Type: text/plain; charset=us-ascii",
        "cuerpo\r\n",
    ),
    "forwarded_8bit_beside_qp_text": mail(
        'Content-Type: multipart/mixed; boundary="fw"',
        multipart(
            "fw",
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            b"Te reenv=C3=ADo el pedido.\r\n",
            b"Content-Type: message/rfc822\r\n\r\n"
            + "From: otro@example.net\r\nSubject: 8 bits\r\n\r\nSeñor Muñoz, texto en 8 bits\r\n".encode(),
        ),
    ),
    "raw_8bit_headers": (
        b"From: Jos\xc3\xa9 <jose@example.com>\r\nTo: Mu\xf1oz <munoz@example.com>\r\n"
        b"Subject: Caf\xe9 \x96 50 \x80\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\nbody\r\n"
    ),
}
