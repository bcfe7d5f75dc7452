"""MIME parsing: hand-built messages for every repair we promise, the real SES samples, and
agreement between the fast path, the fallback and the streaming parser."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import quopri
import random
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.mime import parse as mime
from pipelines.mime.message import Address, MimeParseError, ParsedMessage
from pipelines.mime.parse import extract_message_ids, normalize_address, parse_message, parse_message_file
from pipelines.mime.stream import parse_message_stream
from tests.conftest import COMPOSED_SES, REAL_SES

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


@pytest.fixture(scope="module")
def parsed() -> dict[str, ParsedMessage]:
    if not COMPOSED_SES.exists():
        pytest.skip("shared SES samples are not beside the repository")
    return {name: parse_message(raw) for name, raw in WELL_FORMED.items()}


def test_ses_prepended_block(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["ses_block"]
    assert m.parser == "fast" and m.warnings == []
    assert m.ses.smtp_id == "exampleid0123456789abcdefghijklmnopqrstu"
    assert m.ses.envelope_recipients == ["support@tenant42.example.com"]
    assert m.ses.envelope_sender == "alice@example.org"
    assert m.ses.received_at == datetime(2025, 3, 1, 9, 15, tzinfo=UTC)
    assert (m.ses.spam_verdict, m.ses.virus_verdict) == ("PASS", "PASS")
    assert (m.ses.spf_verdict, m.ses.dkim_verdict, m.ses.dmarc_verdict) == ("pass", "pass", "pass")
    assert m.message_id == "CAEXAMPLE123@mail.example.org"
    assert m.reference_ids == [
        "EXAMPLE0100018f2a7c9b1e-3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f-000000@email.amazonses.com"
    ]
    assert m.date == datetime(2025, 3, 1, 9, 14, 58, tzinfo=UTC)
    assert m.from_ == Address("alice@example.org", "Alice")
    assert m.subject == "Re: Your ticket"
    assert m.text_body == "Thanks, that fixed it.\n"


def test_ses_block_variants() -> None:
    raw = (
        b"Return-Path: <>\r\n"
        b"Received: from mx.google.com by relay.example.net with ESMTPS id zzz for <x@y.example>;"
        b" Sat, 01 Mar 2025 09:00:00 +0000\r\n"
        b"Received: from mail.example.org (mail.example.org [198.51.100.25]) (authenticated by x)\r\n"
        b" by inbound-smtp.eu-west-1.amazonaws.com with SMTP id abc123\r\n"
        b" for <Uno@Tenant.EXAMPLE>, dos@tenant.example;\r\n Sat, 01 Mar 2025 09:15:00 -0100 (UTC)\r\n"
        b"Received: from b by inbound-smtp.us-east-1.amazonaws.com with SMTP id second for z@z.example;"
        b" Sat, 01 Mar 2025 08:00:00 +0000\r\n"
        b"X-SES-Spam-Verdict: FAIL\r\nX-SES-Virus-Verdict: gray\r\n"
        b"Received-SPF: softfail (spfCheck: transitioning domain) client-ip=198.51.100.25;\r\n"
        b"Authentication-Results: mx.example.net; spf=pass; dkim=pass; dmarc=pass\r\n"
        b"Authentication-Results: amazonses.com;\r\n spf=softfail (spfCheck: x) client-ip=198.51.100.25;\r\n"
        b" dkim=fail header.i=@example.org;\r\n dkim=pass header.i=@esp.example;\r\n"
        b" dmarc=FAIL header.from=example.org;\r\n"
        b"From: a@example.org\r\nSubject: s\r\nDate: Sat, 1 Mar 2025 09:14:58 +0000\r\n\r\nbody\r\n"
    )
    ses = parse_message(raw).ses
    assert ses.smtp_id == "abc123"
    assert ses.envelope_recipients == ["Uno@tenant.example", "dos@tenant.example"]
    assert ses.envelope_sender is None
    assert ses.received_at == datetime(2025, 3, 1, 10, 15, tzinfo=UTC)
    assert (ses.spam_verdict, ses.virus_verdict) == ("FAIL", "GRAY")
    assert (ses.spf_verdict, ses.dkim_verdict, ses.dmarc_verdict) == ("softfail", "pass", "fail")


def test_outbound_mail_has_no_ses_receipt(parsed: dict[str, ParsedMessage]) -> None:
    ses = parsed["cp1252_qp"].ses
    assert ses == type(ses)()


def test_rfc2047_subject_split_across_words(parsed: dict[str, ParsedMessage]) -> None:
    # The ñ is split between two encoded words: its two bytes must be joined before decoding.
    assert parsed["subject_split_words"].subject == "Atención: ¿cuándo llega mi pedido? Señor Muñoz"
    assert parsed["portuguese_latin1_qp"].subject == PORTUGUESE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  =?utf-8?q?_hola?=   mundo\t ", "hola mundo"),
        ("=?iso-8859-1?q?Caf=E9?= y =?UTF-8?B?w7E=?=", "Café y ñ"),
        ("Re: =?utf-8?q?encoded_newline=0A?=", "Re: encoded newline"),
        ("=?utf-8*es?q?con_idioma?=", "con idioma"),
        ("=?utf-8?b?bm8gcGFkZGluZw?=", "no padding"),
        ("plain =?broken", "plain =?broken"),
    ],
)
def test_subject_decoding(value: str, expected: str) -> None:
    assert parse_message(mail(f"Subject: {value}", subject=None)).subject == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cp1252_qp", SPANISH + "\n"),
        ("latin1_label_cp1252_bytes_b64", SPANISH + "\n"),  # ISO-8859-1 is read as Windows-1252, as clients do
        ("utf8_b64", SPANISH),
        ("portuguese_latin1_qp", "Olá,\nNão recebi a confirmação do pedido. Este parágrafo é longo.\n"),
    ],
)
def test_body_charsets_and_transfer_encodings(parsed: dict[str, ParsedMessage], name: str, expected: str) -> None:
    m = parsed[name]
    assert m.text_body == expected
    assert (m.body_from_html, m.has_html, m.warnings) == (False, False, [])


def test_html_only_body_becomes_text(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["html_only"]
    assert m.text_body == "Hola Ana,\n\nTu pedido 1234 llegó.\n\nTotal 50 €"
    assert m.body_from_html and m.has_html


def test_html_conversion_failure_falls_back_to_stripping_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(self: object, html: str) -> str:
        raise IndexError("html2text bug")

    monkeypatch.setattr(mime._HtmlToText, "handle", crash)
    m = parse_message(mail("Content-Type: text/html", "<p>Hola &amp; adi&oacute;s</p>"))
    assert (m.text_body, m.warnings) == ("Hola & adiós", ["html_unconvertible"])


def test_alternative_body_and_rfc2231_attachment(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["alternative_with_invoice"]
    assert m.text_body == f"{PORTUGUESE}\n\n> mensaje anterior\n"
    assert m.has_html and not m.body_from_html
    [pdf] = m.attachments
    assert pdf.filename == "factura_año_2026.pdf"
    assert (pdf.content_type, pdf.disposition, pdf.size_bytes) == ("application/pdf", "attachment", len(INVOICE))
    assert pdf.sha256 == sha(INVOICE)
    assert not pdf.is_forwarded_message


def test_filename_continuations_and_encoded_words(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["rfc2231_continuations_and_2047_names"]
    assert [(a.filename, a.sha256, a.disposition) for a in m.attachments] == [
        ("factura_año_2026.pdf", sha(INVOICE), "attachment"),
        ("factura_año_2026.pdf", sha(INVOICE), None),
    ]
    assert m.text_body == "adjunto"


def test_inline_image(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["inline_image"]
    [image] = m.attachments
    assert (image.content_type, image.disposition, image.content_id) == ("image/png", "inline", "logo@shop.example")
    assert (image.filename, image.size_bytes, image.sha256) == (None, len(PNG), sha(PNG))
    assert m.body_from_html and m.text_body == "Logo:"


def test_forwarded_message_is_one_attachment_and_not_body(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["forwarded_message"]
    assert m.text_body == "Te reenvío el pedido.\n"
    assert "INNER" not in m.text_body
    [forwarded] = m.attachments
    assert forwarded.is_forwarded_message and forwarded.content_type == "message/rfc822"
    assert forwarded.filename == "pedido.eml"
    assert (forwarded.size_bytes, forwarded.sha256) == (len(FORWARDED), sha(FORWARDED))


def test_addresses_ids_forwarding_and_selected_headers(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["addresses_and_ids"]
    assert m.cc == [
        Address("Ana.Perez@example.com", "Pérez, Ana"),
        Address("jose@example.org", "José López"),
        Address("uno@example.com"),
        Address("dos@example.com", "Dos"),
        Address("tres@example.com", "Tres Apellido"),
    ]
    assert m.bcc == []
    assert m.reply_to == [Address("norton@sf.example", "Norton I., Emperor")]
    assert m.sender == Address("soporte@tenant.example", "Soporte")
    assert m.to == [Address("soporte@tenant.example")]
    assert m.in_reply_to == "<parent@example.com>"
    assert m.references == "<root@example.com> <parent@example.com>"
    assert m.reference_ids == ["root@example.com", "parent@example.com"]
    assert m.forwarded_to == [
        "Fwd@tenant.example",
        "other@tenant.example",
        "fwd@tenant.example",
        "orig@tenant.example",
        "last@tenant.example",
    ]
    assert m.headers == {
        "thread-index": "AdmABCDEF==",
        "x-ses-configuration-set": "outbound",
        "x-ses-message-tags": "tenant=42, campaign=oto",
        "x-ses-tenant": "tenant-42",
        "auto-submitted": "auto-replied",
        "list-id": "<news.example.com>",
        "x-mailer": "Microsoft Outlook 16.0",
        "content-language": "es-AR",
        "x-forwarded-for": "a@x.example b@y.example",
    }
    assert m.warnings == []


def test_raw_8bit_headers(parsed: dict[str, ParsedMessage]) -> None:
    m = parsed["raw_8bit_headers"]
    assert m.from_ == Address("jose@example.com", "José")
    assert m.to == [Address("munoz@example.com", "Muñoz")]
    assert m.subject == "Café – 50 €"


@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_fast_and_fallback_agree(parsed: dict[str, ParsedMessage], name: str) -> None:
    raw = WELL_FORMED[name]
    fast, fallback = mime._parse_fast(raw), mime._parse_fallback(raw)
    assert (fast.parser, fallback.parser) == ("fast", "fallback")
    assert fields(fast) == fields(fallback)
    assert fields(parsed[name]) == fields(fast)


@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_stream_agrees_with_memory(parsed: dict[str, ParsedMessage], name: str, tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(WELL_FORMED[name])
    streamed = parse_message_stream(path)
    assert streamed.parser == "stream"
    assert fields(streamed) == fields(parsed[name])


# --------------------------------------------------------------------------------------------
# Helpers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ana <Ana.Perez@Example.COM>", "Ana.Perez@example.com"),
        ("  <X@Y.Z> ", "X@y.z"),
        ('"Pérez, Ana" <ana@EXAMPLE.com>', "ana@example.com"),
        ("bare@Example.Com", "bare@example.com"),
        ("not an address", ""),
    ],
)
def test_normalize_address(value: str, expected: str) -> None:
    assert normalize_address(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("<a@x> <b@y>\r\n\t<c@z>", ["a@x", "b@y", "c@z"]),
        ("Message from Ana of 1 Mar <a@x>", ["a@x"]),
        ("< spaced@x >", ["spaced@x"]),
        ("<[weird====@example.com]>", ["[weird====@example.com]"]),
        ("bare@x", ["bare@x"]),
        ("no ids here", []),
    ],
)
def test_extract_message_ids(value: str | None, expected: list[str]) -> None:
    assert extract_message_ids(value) == expected


def test_reference_ids_deduplicated_in_order() -> None:
    m = parse_message(mail("References: <a@x> <b@x> <a@x>\nIn-Reply-To: <b@x>"))
    assert m.reference_ids == ["a@x", "b@x"]


# --------------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("date", "expected", "warning"),
    [
        (None, None, "date_missing"),
        ("not a date at all", None, "date_invalid"),
        ("Sat, 17 Sep 1859 11:33:12 -0700", None, "date_invalid"),
        ("Fri, 1 Jan 2150 00:00:00 +0000", None, "date_invalid"),
        ("Tues, 18 Dec 2023 02:34:39 +0000", datetime(2023, 12, 18, 2, 34, 39, tzinfo=UTC), None),
        ("18 Dec 2023 02:34 EST", datetime(2023, 12, 18, 7, 34, tzinfo=UTC), None),
        ("Mon, 18 Dec 23 02:34:39 +0530", datetime(2023, 12, 17, 21, 4, 39, tzinfo=UTC), None),
        ("Mon, 18 Dec 2023 23:34:39 -0300 (ART)", datetime(2023, 12, 19, 2, 34, 39, tzinfo=UTC), None),
    ],
)
def test_dates(date: str | None, expected: datetime | None, warning: str | None) -> None:
    m = parse_message(mail("", date=date))
    assert m.date == expected
    assert m.date_raw == date
    assert (warning in m.warnings) if warning else m.warnings == []


# --------------------------------------------------------------------------------------------
# Repairs: the message still parses, and says what was repaired


def test_unknown_charset_in_body_and_subject() -> None:
    raw = mail(
        "Subject: =?x-klingon?q?caf=C3=A9?=\nContent-Type: text/plain; charset=x-klingon",
        b"caf\xc3\xa9 \xff\r\n",
        subject=None,
    )
    m = parse_message(raw)
    assert m.subject == "café"
    assert m.text_body == "café \ufffd\n"
    assert m.warnings == ["charset_unknown"]


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        (b"aGVsbG8gd29ybGQ=!!*\r\n", b"hello world"),  # stray characters
        (b"aGVsbG8g\r\nd29ybG\r\n", b"hello worl"),  # missing padding
        (b"aGVs\xe9bG8=\r\n", b"hello"),  # an 8-bit byte
    ],
)
def test_bad_base64_decodes_what_it_can(encoded: bytes, decoded: bytes, tmp_path: Path) -> None:
    raw = mail(
        'Content-Type: multipart/mixed; boundary="b"',
        multipart(
            "b",
            b"Content-Type: text/plain\r\n\r\ntexto",
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + encoded,
        ),
    )
    m = parse_message(raw)
    assert m.parser == "fallback"
    assert "bad_base64" in m.warnings
    [attachment] = m.attachments
    assert (attachment.size_bytes, attachment.sha256) == (len(decoded), sha(decoded))
    assert m.text_body == "texto"
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)


def test_unterminated_multipart(tmp_path: Path) -> None:
    raw = mail(
        'Content-Type: multipart/mixed; boundary="b"',
        multipart("b", b"Content-Type: text/plain\r\n\r\ncuerpo\r\n", PDF_PART, close=False),
    )
    m = parse_message(raw)
    assert m.parser == "fallback"
    assert m.warnings == ["multipart_unterminated"]
    assert m.text_body == "cuerpo\n"
    assert [(a.filename, a.sha256) for a in m.attachments] == [("factura_año_2026.pdf", sha(INVOICE))]
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)


def test_multipart_without_boundary_is_read_as_text(tmp_path: Path) -> None:
    raw = mail("Content-Type: multipart/mixed", "just text, no parts\r\n")
    m = parse_message(raw)
    assert m.text_body == "just text, no parts\n"
    assert m.warnings == ["multipart_boundary_missing"]
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)


def test_missing_header_body_separator() -> None:
    m = parse_message(
        b"From: a@example.com\nSubject: sin separador\nDate: Tue, 3 Mar 2026 10:00:00 +0000\nHola, esto es el cuerpo.\n"
    )
    assert m.subject == "sin separador"
    assert m.text_body == "Hola, esto es el cuerpo.\n"
    assert m.warnings == ["header_separator_missing"]


def test_garbage_lines_before_headers_and_between_parts(tmp_path: Path) -> None:
    raw = b">garbage line\r\n" + mail(
        'Content-Type: multipart/alternative; boundary="b"',
        b"preamble junk\r\n--b\r\nContent-Type: text/plain\r\n\r\nbueno\r\n--b\r\nnot a header\r\nstill body\r\n"
        b"--b--\r\nepilogue junk\r\n",
    )
    m = parse_message(raw)
    assert m.warnings == ["header_garbage"]
    assert m.text_body == "bueno"
    assert m.parser == "fallback"  # fast-mail-parser would read 'not a header' as a header
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)


def test_raw_8bit_bytes_in_quoted_printable_are_kept(tmp_path: Path) -> None:
    raw = mail(
        'Content-Type: multipart/alternative; boundary="b"',
        multipart(
            "b",
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            + "Señor Mu=C3=B1oz\r\n".encode(),
            b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>hola</p>",
        ),
    )
    m = parse_message(raw)
    assert m.text_body == "Señor Muñoz\n"
    assert m.parser == "fallback"  # fast-mail-parser would drop the raw 'ñ'
    assert mime._parse_fast(WELL_FORMED["forwarded_8bit_beside_qp_text"]).parser == "fast"
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)


def test_repeated_delimiter_opens_no_part(tmp_path: Path) -> None:
    raw = mail(
        'Content-Type: multipart/alternative; boundary="b"',
        b"--b\r\n--b\r\nContent-Type: text/plain\r\n\r\nreal text\r\n--b--\r\n",
    )
    m = parse_message(raw)
    assert (m.text_body, m.warnings) == ("real text", [])
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)


def test_mbox_from_line_is_skipped() -> None:
    m = parse_message(b"From ana@example.com Tue Mar  3 10:00:00 2026\n" + mail(""))
    assert (m.from_, m.warnings) == (Address("ana@example.com", "Ana"), [])


def test_addresses_with_junk() -> None:
    m = parse_message(mail("Cc: not an address, ana@example.com, <>, Bob <bob@>, carla@Example.com, dan@"))
    assert [a.address for a in m.cc] == ["ana@example.com", "carla@example.com"]
    assert m.warnings == ["address_unparseable"]
    assert parse_message(mail("Cc: <>, Ana <ana@example.com>")).warnings == []


def test_huge_to_header_is_capped() -> None:
    to = ", ".join(f"User {i} <user{i}@Example.COM>" for i in range(20_000))
    m = parse_message(mail(f"To: {to}", to=None))
    assert m.warnings == ["header_truncated"]  # cut between two addresses, not inside one
    assert 1_000 < len(m.to) < 20_000
    assert m.to[0] == Address("user0@example.com", "User 0")
    assert m.to[-1] == Address(f"user{len(m.to) - 1}@example.com", f"User {len(m.to) - 1}")


def test_huge_references_keep_root_and_newest() -> None:
    references = " ".join(f"<id{i}@example.com>" for i in range(50_000))
    m = parse_message(mail(f"References: {references}\nIn-Reply-To: <id49999@example.com>"))
    assert m.warnings == ["header_truncated"]
    assert m.reference_ids[0] == "id0@example.com"
    assert m.reference_ids[-1] == "id49999@example.com"
    assert 1_000 < len(m.reference_ids) < 50_000
    assert len(m.references or "") <= mime.HEADER_VALUE_CAP + 1


def test_body_is_capped(tmp_path: Path) -> None:
    raw = mail("Content-Type: text/plain; charset=utf-8", "ñ" * (mime.TEXT_CAP + 10))
    m = parse_message(raw)
    assert len(m.text_body) == mime.TEXT_CAP and "body_truncated" in m.warnings
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    assert fields(parse_message_stream(path)) == fields(m)


# --------------------------------------------------------------------------------------------
# Not mail at all


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty object"),
        (b" \r\n\r\n", "empty object"),
        (random.Random(7).randbytes(5000), "not a mail message: binary data"),
        (b"\x1f\x8b\x08\x00" + bytes(2000), "not a mail message: binary data"),
        (b'{"notificationType": "Received"}\n', "not a mail message: no mail headers"),
        (b"[1, 2, 3]\n", "not a mail message: no header block"),
        (b"hello\nthis is a note\nnot mail\n\nat all\nreally\n", "not a mail message: no header block"),
        (b"name: invoice\nvalue: 12\n", "not a mail message: no mail headers"),
    ],
)
def test_not_mail_raises_with_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MimeParseError, match=reason):
        parse_message(raw)


# --------------------------------------------------------------------------------------------
# Real SES mail

REAL_EXPECTED = {
    "russian_spam_incoming.email": (
        "Приглашение | Зачем и как вести бизнес в Африке?",
        Address("hello@ac.spam.example.com", "АФРИКА ЗОВЁТ!"),
    ),
    "emperor_norton_incoming.email": (
        "Declaration and Meeting of the Union",
        Address("norton@sf.us.example.com", "Norton I., Emperor of the United States"),
    ),
    "nested_brackets_service_incoming.email": (
        "Welcome to our service!",
        Address("hello@theservice.example.com", "The Service"),
    ),
    "encoded_trailing_newline_incoming.email": (
        "An encoded newline",
        Address("newline@trouble.example.com", "New Line Trouble"),
    ),
    "uber_otp_only_html_incoming.email": (
        "Welcome to Uber",
        Address("testing-otps@luffy.mozmail.com", "admin@uber.com [via Relay]"),
    ),
    "inline_image_incoming.email": ("Test Email", Address("friend@mail.example.com", "Your Friend")),
}


def real_samples() -> list[Path]:
    return sorted(REAL_SES.glob("*.email")) if REAL_SES.exists() else []


@pytest.mark.parametrize("path", real_samples(), ids=lambda p: p.name)
def test_real_samples_parse_alike_on_every_path(path: Path) -> None:
    raw = path.read_bytes()
    m = parse_message(raw)
    assert m.parser == "fast" and m.size_bytes == len(raw)
    assert fields(mime._parse_fallback(raw)) == fields(m)
    assert fields(parse_message_stream(path)) == fields(m)
    if path.name in REAL_EXPECTED:
        assert (m.subject, m.from_) == REAL_EXPECTED[path.name]


def test_real_sample_details() -> None:
    if not REAL_SES.exists():
        pytest.skip("shared samples are not beside the repository")
    norton = parse_message_file(REAL_SES / "emperor_norton_incoming.email")
    assert norton.date is None and norton.date_raw == "Sat, 17 Sep 1859 11:33:12 -0700"
    assert norton.warnings == ["date_invalid"]
    uber = parse_message_file(REAL_SES / "uber_otp_only_html_incoming.email")
    assert uber.body_from_html and "Verification code:\n\n1973" in uber.text_body
    otp = parse_message_file(REAL_SES / "otp_mozilla_incoming.email")
    assert otp.message_id == "[d7c5838b5ab944f89e3f0c1b85674aef====@example.com]"
    assert "Use this confirmation code:\n376637" in otp.text_body
    image = parse_message_file(REAL_SES / "inline_image_incoming.email")
    [png] = image.attachments
    assert (png.filename, png.disposition, png.content_id) == (
        "clock-purple.png",
        "inline",
        "0A0AD2F8-6672-45A8-8248-0AC6C7282970",
    )
    spam = parse_message_file(REAL_SES / "russian_spam_incoming.email")
    assert spam.forwarded_to == ["ebsbdsan7@test.com"]
    assert spam.ses.spf_verdict is None  # Google's Received-SPF is not SES's verdict


# --------------------------------------------------------------------------------------------
# Large messages


@pytest.fixture(scope="module")
def large_message(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 13 MB: SES headers, a long quoted text part, its HTML twin and a 7 MB attachment."""
    rng = random.Random(42)
    ses = COMPOSED_SES.joinpath("received-headers.txt").read_bytes() if COMPOSED_SES.exists() else mail("")
    head, _, _ = ses.partition(b"\r\n\r\n")
    head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"Content-Type"))
    quoted = "".join(f"> {SPANISH} línea {i}\r\n" for i in range(20_000))
    body = multipart(
        "big",
        b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        + multipart(
            "alt",
            b"Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            + quopri.encodestring(f"Hola\r\n\r\n{quoted}".encode("cp1252")),
            b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + b64(f"<p>Hola</p><blockquote>{quoted}</blockquote>".encode()),
        ),
        PDF_PART,
        b'Content-Type: application/zip\r\nContent-Disposition: attachment; filename="datos.zip"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64(rng.randbytes(7_000_000)),
        b"Content-Type: message/rfc822\r\n\r\n" + FORWARDED,
    )
    path = tmp_path_factory.mktemp("large") / "large.eml"
    path.write_bytes(head + b'\r\nContent-Type: multipart/mixed; boundary="big"\r\n\r\n' + body)
    return path


def test_stream_agrees_with_memory_on_a_large_message(large_message: Path) -> None:
    raw = large_message.read_bytes()
    assert len(raw) > 10_000_000
    in_memory = mime._parse_fast(raw)
    streamed = parse_message_stream(large_message)
    assert fields(streamed) == fields(in_memory)
    assert [a.filename for a in streamed.attachments] == ["factura_año_2026.pdf", "datos.zip", None]
    assert streamed.attachments[1].size_bytes == 7_000_000
    assert streamed.text_body.startswith("Hola\n\n> " + SPANISH)


def test_stream_memory_stays_bounded(large_message: Path) -> None:
    tracemalloc.start()
    try:
        parse_message_stream(large_message)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The message is 13 MB, its attachments 9 MB. What is held is the text body: 1.7 MB of bytes,
    # decoded to 1.7 M characters (two bytes each here) and capped at 1 M. Attachments are not held.
    assert peak < 16 * 1024 * 1024


def test_large_messages_are_streamed(large_message: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = large_message.read_bytes()
    streamed = parse_message_file(large_message)  # above STREAM_THRESHOLD
    assert streamed.parser == "stream"
    assert fields(parse_message(raw)) == fields(streamed) and parse_message(raw).parser == "stream"
    monkeypatch.setattr(mime, "STREAM_THRESHOLD", 20 * 1024 * 1024)
    assert parse_message_file(large_message).parser == "fast"
