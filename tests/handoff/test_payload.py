"""The hand-off payload: fields from real SES samples and generated mail, stripping, caps, canonical bytes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mailparser_reply import EmailReplyParser

from pipelines.handoff.payload import (
    ATTACHMENTS_MAX,
    HTML_MAX_BYTES,
    HTML_OMITTED,
    MAX_BODY_BYTES,
    TEXT_MAX_BYTES,
    build_payload,
    event_id_for,
    payload_bytes,
    reply_from_address,
    strip_reply,
)
from pipelines.mime.message import AttachmentInfo, ParsedMessage
from pipelines.mime.parse import parse_message
from pipelines.tenants import load_registry
from pipelines.threads.reply import ReplyHeaders
from tests.conftest import COMPOSED_SES, REAL_SES, fuzz_settings

RECEIVED = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)
needs_samples = pytest.mark.skipif(not REAL_SES.is_dir(), reason="../shared/samples is not beside the clone")


def _build(message: ParsedMessage, **overrides) -> dict:
    arguments = {
        "tenant_id": "caminos",
        "ses_message_id": "exampleid0123456789abcdefghijklmnopqrstu",
        "object_key": "inbound/exampleid0123456789abcdefghijklmnopqrstu",
        "archive_url": "s3://seslake-archive",
        "thread_id": "3f2a9c0d4e5b6a71",
        "reply_headers": ReplyHeaders(
            "<CAEXAMPLE123@mail.example.org>", "<root@x> <CAEXAMPLE123@mail.example.org>", "Re: x"
        ),
        "reply_from": "info@caminosdelassierras.com.ar",
        "received_at": RECEIVED,
    } | overrides
    return build_payload(message, **arguments)


# --------------------------------------------------------------------------------------------
# Real samples


@needs_samples
def test_ses_received_sample_fills_ids_envelope_auth_and_reply() -> None:
    message = parse_message((COMPOSED_SES / "received-headers.txt").read_bytes())
    payload = _build(message)

    assert payload["schema_version"] == 1
    expected_id = hashlib.sha256(b"caminos\nexampleid0123456789abcdefghijklmnopqrstu").hexdigest()
    assert payload["event_id"] == expected_id == event_id_for("caminos", "exampleid0123456789abcdefghijklmnopqrstu")
    assert payload["ids"] == {
        "tenant_id": "caminos",
        "ses_message_id": "exampleid0123456789abcdefghijklmnopqrstu",
        "rfc_message_id": "CAEXAMPLE123@mail.example.org",
        "thread_id": "3f2a9c0d4e5b6a71",
        "case_id": None,
        "in_reply_to": "EXAMPLE0100018f2a7c9b1e-3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f-000000@email.amazonses.com",
        "references": [],
    }
    assert payload["from"] == {"email": "alice@example.org", "name": "Alice"}
    assert payload["to"] == [{"email": "support@tenant42.example.com", "name": None}]
    assert payload["envelope"] == {"mail_from": "alice@example.org", "rcpt_to": ["support@tenant42.example.com"]}
    assert payload["auth"] == {"spf": "pass", "dkim": "pass", "dmarc": "pass", "spam": "PASS", "virus": "PASS"}
    assert payload["subject"] == "Re: Your ticket"
    assert payload["received_at"] == "2026-10-02T09:30:00Z"
    assert payload["sent_at"] == "2025-03-01T09:14:58Z"
    assert payload["raw_mime_url"] == "s3://seslake-archive/inbound/exampleid0123456789abcdefghijklmnopqrstu"
    assert payload["text"] == {"content": "Thanks, that fixed it.\n", "truncated": False, "from_html": False}
    assert payload["html"] == {"content": None, "truncated": False, "present": False, "omitted_reason": None}
    assert payload["stripped_text"] == "Thanks, that fixed it."
    assert payload["reply_parser"]["name"] == "mail-parser-reply"
    assert payload["reply_parser"]["version"] == "1.36"
    assert payload["reply_parser"]["languages"] == ["es", "pt", "en", "de", "fr"]
    assert payload["reply"] == {
        "From": "info@caminosdelassierras.com.ar",
        "Subject": "Re: x",
        "In-Reply-To": "<CAEXAMPLE123@mail.example.org>",
        "References": "<root@x> <CAEXAMPLE123@mail.example.org>",
        "Reply-To": None,
    }


@needs_samples
def test_payload_bytes_are_canonical_and_stable_across_builds() -> None:
    message = parse_message((COMPOSED_SES / "received-headers.txt").read_bytes())
    first, second = payload_bytes(_build(message)), payload_bytes(_build(message))

    assert first == second
    assert json.loads(first) == _build(message)
    assert first == json.dumps(json.loads(first), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@needs_samples
def test_attachments_are_locators_with_metadata_never_bytes() -> None:
    raw = (REAL_SES / "inline_image_incoming.email").read_bytes()
    message = parse_message(raw)
    payload = _build(message, object_key="inbound/abc123", archive_url="s3://bucket/prefix/")

    assert payload["attachments"] == [
        {
            "index": 0,
            "url": "s3://bucket/prefix/inbound/abc123#attachment=0",
            "filename": "clock-purple.png",
            "content_type": "image/png",
            "size": 596,
            "sha256": "632c97cfc6fc35dd8104b519a1c13746d68eeea82fe5eae5b327a7500d35d762",
            "content_id": "0A0AD2F8-6672-45A8-8248-0AC6C7282970",
            "disposition": "inline",
            "is_forwarded_message": False,
        }
    ]
    assert payload["attachments_truncated"] is False
    body = payload_bytes(payload)
    base64_of_png = b"iVBORw0KGgo"  # every base64-encoded PNG starts so
    assert base64_of_png in raw and base64_of_png not in body
    assert payload["html"] == {"content": message.html, "truncated": False, "present": True, "omitted_reason": None}
    assert "cid:0A0AD2F8-6672-45A8-8248-0AC6C7282970" in message.html


@needs_samples
def test_html_only_mail_has_text_converted_and_its_html_part() -> None:
    raw = (REAL_SES / "uber_otp_only_html_incoming.email").read_bytes()
    message = parse_message(raw)
    payload = _build(message)

    assert payload["text"]["from_html"] is True
    assert "Uber" in payload["text"]["content"]
    html = message.html
    assert payload["html"] == {"content": html, "truncated": False, "present": True, "omitted_reason": None}
    assert html.lstrip().startswith("<!DOCTYPE html") and "Uber" in html
    without = _build(dataclasses.replace(message, html=None))
    assert without["html"] == {"content": None, "truncated": False, "present": True, "omitted_reason": HTML_OMITTED}

    huge = _build(dataclasses.replace(message, html="<p>" + "é" * (HTML_MAX_BYTES) + "</p>"))
    assert huge["html"]["truncated"] is True
    assert len(huge["html"]["content"].encode()) <= HTML_MAX_BYTES


@needs_samples
def test_non_ascii_stays_utf8_in_the_bytes() -> None:
    message = parse_message((REAL_SES / "russian_spam_incoming.email").read_bytes())
    body = payload_bytes(_build(message))

    assert message.subject.startswith("Приглашение")
    assert "Приглашение".encode() in body
    assert b"\\u04" not in body


# --------------------------------------------------------------------------------------------
# Quoted history in the languages our tenants' customers write


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        (
            "Listo, ya está solucionado.\n\nSaludos,\nEugenia\n\n"
            "El 5 oct 2026, a las 9:31, Soporte Caminos <info@caminos.com.ar> escribió:\n\n> Hola Eugenia,",
            "Listo, ya está solucionado.\n\nSaludos,\nEugenia",
        ),
        (
            "No es lo que pregunté.\n\nEl vie, 2 oct 2026 a las 9:55, Soporte (<hola@altamira.es>) escribió:\n\n> Hola",
            "No es lo que pregunté.",
        ),
        (
            "Segue em anexo.\n\nGrato,\nFelipe\n\nEm 01/10/2026 16:50, Suporte Casa Verde escreveu:\n> Olá, Felipe!",
            "Segue em anexo.\n\nGrato,\nFelipe",
        ),
        (
            "Entendido.\n\n________________________________\nDe: Suporte <contato@casaverde.com.br>\n"
            "Enviado: quinta-feira, 1 de outubro de 2026 10:00\nPara: eu@x.com\nAssunto: Pedido 123\n\nOlá",
            "Entendido.",
        ),
        (
            '¿Alguna novedad?\n\n----- Mensaje original -----\nDe: "Soporte" <info@caminos.com.ar>\n'
            "Para: Héctor <h@x.com>\nEnviados: 2/10/2026 17:50\nAsunto: Re: Reclamo\n\nHola Héctor",
            "¿Alguna novedad?",
        ),
        (
            'Obrigado!\n\n----- Mensagem original -----\nDe: "Suporte" <contato@casaverde.com.br>\n'
            "Para: Ana <a@x.com>\nEnviadas: 2/10/2026 17:50\nAssunto: Re: Entrega\n\nOlá Ana",
            "Obrigado!",
        ),
        ("Thanks!\n\nOn Thu, Oct 1, 2026 at 9:00 AM Support <s@x.com> wrote:\n> Hello", "Thanks!"),
        ("Merci.\n\nLe jeu. 1 oct. 2026 à 09:00, Support <s@x.com> a écrit :\n> Bonjour", "Merci."),
        ("Danke.\n\nAm Do., 1. Okt. 2026 um 09:00 Uhr schrieb Support <s@x.com>:\n> Hallo", "Danke."),
    ],
)
def test_strip_reply_removes_quoted_history(text: str, reply: str) -> None:
    stripped = strip_reply(text)

    assert stripped.text == reply
    assert stripped.quote_found is True


def test_strip_reply_keeps_unquoted_mail_and_hyphen_lists_whole() -> None:
    text = "Necesito:\n- la factura 0003\n- el remito\n\nGracias,\nAna"
    stripped = strip_reply(text)

    assert stripped.text == text
    assert stripped.quote_found is False
    assert stripped.signature == "Gracias,\nAna"


def test_the_library_alone_misses_spanish_and_portuguese_quote_headers() -> None:
    """Why pipelines.handoff.payload supplies those two rules (mail-parser-reply 1.36)."""
    spanish = "Listo.\n\nEl vie, 2 oct 2026 a las 9:55, Soporte (<hola@altamira.es>) escribió:\n\n> Hola"
    portuguese = "Certo.\n\nEm 01/10/2026 16:50, Suporte Casa Verde escreveu:\n> Olá"

    assert "escribió" in EmailReplyParser(languages=["es"]).parse_reply(spanish)
    assert "escreveu" in EmailReplyParser(languages=["pt"]).parse_reply(portuguese)
    assert strip_reply(spanish).text == "Listo." and strip_reply(portuguese).text == "Certo."


_QUOTE_MARKS = ("escribió:", "escreveu:", "Mensaje original", "Mensagem original", "Asunto:", "Assunto:")


def test_generated_spanish_and_portuguese_replies_come_out_stripped(small_archive: Path) -> None:
    registry = load_registry(str(small_archive / "tenants.yaml"))
    truth = [json.loads(line) for line in (small_archive / "_truth" / "messages.jsonl").open(encoding="utf-8")]
    replies = [r for r in truth if r["direction"] == "inbound" and r["kind"] in ("reply", "outlook_reply")]
    stripped_by: Counter[tuple[str, str]] = Counter()
    for row in replies:
        message = parse_message((small_archive / row["key"]).read_bytes())
        tenant = registry.tenants[row["tenant_id"]]
        payload = _build(
            message,
            tenant_id=tenant.id,
            ses_message_id=row["ses_message_id"],
            object_key=row["key"],
            reply_from=reply_from_address(tenant, message),
        )
        stripped = payload["stripped_text"]
        assert stripped.startswith(row["body_first_line"]), row["key"]
        assert not any(line.startswith(">") for line in stripped.splitlines()), row["key"]
        assert not any(mark in stripped for mark in _QUOTE_MARKS), row["key"]
        assert payload["reply"]["From"] in tenant.public_addresses
        has_history = any(mark in message.text_body for mark in (*_QUOTE_MARKS, "\n>", "_" * 32))
        assert payload["reply_parser"]["quote_found"] is has_history, row["key"]
        if has_history:
            assert len(stripped) < len(message.text_body) / 2, row["key"]
            client = next(t for t in row["traits"] if t.startswith("client:"))
            stripped_by[
                (client, "pt" if "escreveu" in message.text_body or "Assunto:" in message.text_body else "es")
            ] += 1
    clients = {client for client, _ in stripped_by}
    assert {"client:gmail", "client:apple", "client:outlook", "client:yahoo", "client:zimbra"} <= clients
    assert sum(n for (_, lang), n in stripped_by.items() if lang == "es") >= 20
    assert sum(n for (_, lang), n in stripped_by.items() if lang == "pt") >= 20


def test_mailbox_hash_and_envelope_come_from_the_notification_recipients(small_archive: Path) -> None:
    key = next(p for p in sorted((small_archive / "inbound").iterdir()) if p.is_file())
    message = parse_message(key.read_bytes())
    payload = _build(message, envelope_recipients=["caminos+case-12@ses.omnibrein.com"])

    assert payload["envelope"]["rcpt_to"] == ["caminos+case-12@ses.omnibrein.com"]
    assert payload["mailbox_hash"] == "case-12"


# --------------------------------------------------------------------------------------------
# Caps and reply headers


def _plain(text: str) -> ParsedMessage:
    raw = b"From: a@b.com\r\nTo: c@d.com\r\nSubject: big\r\nMessage-ID: <big@b.com>\r\n\r\nhello\r\n"
    return dataclasses.replace(parse_message(raw), text_body=text)


def test_long_text_is_truncated_and_the_body_stays_under_one_mebibyte() -> None:
    payload = _build(_plain("Hola, adjunto la lista.\n" + "línea de datos número 12345\n" * 80_000))
    body = payload_bytes(payload)

    assert payload["text"]["truncated"] is True
    assert len(payload["text"]["content"].encode()) <= TEXT_MAX_BYTES
    assert payload["stripped_text"].startswith("Hola, adjunto la lista.")
    assert len(body) <= MAX_BODY_BYTES


def test_json_escaping_cannot_push_the_body_over_the_limit() -> None:
    payload = _build(_plain("\x01" * 900_000))  # each character becomes \u0001 (6 bytes) in JSON

    assert len(payload_bytes(payload)) <= MAX_BODY_BYTES
    assert payload["text"]["truncated"] is True and payload["reply_parser"]["truncated"] is True


def test_attachment_list_is_capped() -> None:
    many = [AttachmentInfo(f"f{i}.pdf", "application/pdf", 10, "0" * 64) for i in range(ATTACHMENTS_MAX + 5)]
    message = dataclasses.replace(_plain("ver adjuntos"), attachments=many)
    payload = _build(message)

    assert len(payload["attachments"]) == ATTACHMENTS_MAX
    assert payload["attachments"][-1]["url"].endswith(f"#attachment={ATTACHMENTS_MAX - 1}")
    assert payload["attachments_truncated"] is True


def test_reply_headers_are_set_as_header_values_or_left_null_without_an_id() -> None:
    message = _plain("hola")
    given = _build(message, reply_headers=ReplyHeaders("<b@x>", "<a@x>  <b@x>", "Re: big"))["reply"]
    without = _build(message, reply_headers=None)["reply"]

    assert given == {
        "From": "info@caminosdelassierras.com.ar",
        "Subject": "Re: big",
        "In-Reply-To": "<b@x>",
        "References": "<a@x> <b@x>",
        "Reply-To": None,
    }
    assert without == {
        "From": "info@caminosdelassierras.com.ar",
        "Subject": "Re: big",
        "In-Reply-To": None,
        "References": None,
        "Reply-To": None,
    }


def test_long_reference_chains_keep_the_root_and_the_latest() -> None:
    ids = [f"m{i}@x" for i in range(150)]
    chain = ReplyHeaders("<m149@x>", " ".join(f"<{i}>" for i in ids), "Re: big")
    reply = _build(_plain("hola"), reply_headers=chain)["reply"]
    kept = reply["References"].split(" ")

    assert len(kept) == 100
    assert kept[0] == "<m0@x>" and kept[1] == "<m51@x>" and kept[-1] == "<m149@x>"


def test_event_id_depends_on_tenant_and_ses_id_only() -> None:
    message = _plain("hola")
    one = _build(message, thread_id="a", received_at=RECEIVED)
    other_thread = _build(message, thread_id="b", received_at=datetime(2027, 1, 1, tzinfo=UTC))
    other_tenant = _build(message, tenant_id="casaverde")

    assert one["event_id"] == other_thread["event_id"]
    assert one["event_id"] != other_tenant["event_id"]


def test_naive_received_at_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        _build(_plain("hola"), received_at=datetime(2026, 10, 2, 9, 30))


def test_the_answer_gets_the_case_address_and_a_verified_case_is_named() -> None:
    from pipelines.threads.tracking import tracking_address

    address = tracking_address("caminos", "3f2a9c0d4e5b6a71", "caminos@ses.omnibrein.com", secret="k")
    payload = _build(_plain("hola"), case_address=address, case_id="3f2a9c0d4e5b6a71")
    unknown = _build(_plain("hola"), envelope_recipients=["caminos+case-12@ses.omnibrein.com"])

    assert payload["reply"]["Reply-To"] == address
    assert payload["ids"]["case_id"] == "3f2a9c0d4e5b6a71"
    assert unknown["ids"]["case_id"] is None and unknown["reply"]["Reply-To"] is None
    assert unknown["mailbox_hash"] == "case-12"  # what the sender wrote, unverified


SIZES = st.sampled_from([0, 1, 100, 70_000, 300_000, 1_200_000])
TEXT_UNITS = st.sampled_from(["a", "ñ", "\x01", '"', "\\", "😀", "\ud83d", "\n", "<p>"])


def _sized(unit: str, size: int) -> str:
    return unit * size


@fuzz_settings(40)
@given(
    text=st.builds(_sized, TEXT_UNITS, SIZES),
    html=st.none() | st.builds(_sized, TEXT_UNITS, SIZES),
    subject=st.builds(_sized, TEXT_UNITS, st.sampled_from([0, 10, 5_000])),
    addresses=st.sampled_from([0, 1, 60, 5_000]),
    attachments=st.sampled_from([0, 3, 150, 20_000]),
    references=st.sampled_from([0, 5, 150, 3_000]),
    header=st.builds(_sized, TEXT_UNITS, st.sampled_from([0, 50, 70_000])),
)
def test_any_message_gives_a_payload_under_one_mebibyte_or_a_clear_refusal(
    text, html, subject, addresses, attachments, references, header
):
    """Whatever the sizes and contents of a message's fields, the payload is valid UTF-8 JSON of at most
    1 MiB, or building it raises ValueError (which the hand-off run quarantines as payload_unbuildable)."""
    from pipelines.mime.message import Address

    people = [Address(f"p{i}@example.com", subject[:50]) for i in range(addresses)]
    message = dataclasses.replace(
        _plain(text),
        html=html,
        has_html=html is not None,
        subject=subject,
        to=people,
        cc=people,
        reply_to=people,
        attachments=[AttachmentInfo(f"{subject[:30]}{i}", "application/pdf", 1, "0" * 64) for i in range(attachments)],
        references=" ".join(f"<r{i}@x>" for i in range(references)) or None,
        headers={"x-mailer": header, "list-id": header},
    )
    try:
        payload = _build(message)
    except ValueError as exc:
        assert "exceeds" in str(exc)
        return
    body = payload_bytes(payload)
    assert len(body) <= MAX_BODY_BYTES
    json.loads(body.decode("utf-8"))
