"""The JSON document handed to the reply service for one new inbound message (schema_version 1).

`build_payload` turns a parsed message plus what the pipeline learned about it (tenant, thread, the
headers an answer should carry) into a plain dict; `payload_bytes` is its canonical encoding, the exact
bytes that are signed, POSTed and kept in the hand-off ledger.

Identity: `event_id` is the sha256 hex digest of `f"{tenant_id}\\n{ses_message_id}"` (UTF-8). The same
SES receipt always gives the same id, so every retry and every replay carries it and the receiver can
deduplicate on it (`ids.tenant_id` + `ids.ses_message_id` is the fallback key).

Size: the encoded body never exceeds `MAX_BODY_BYTES` (1 MiB, the SQS ceiling). Each variable field has a
cap in UTF-8 bytes or entries (constants below); a cut field says so (`text.truncated`,
`reply_parser.truncated`, `recipients_truncated`, `attachments_truncated`). If JSON escaping still pushes
the body over the limit, `text` is cut further.

HTML: the message's HTML part as the parser decoded it (`ParsedMessage.html`, the part a mail client would
show), cut at `HTML_MAX_BYTES`; `html.present` says whether the message had an HTML part, and
`omitted_reason` why `content` is null when it had one the parser could not keep.

Attachments are never inlined: each carries a locator `<raw_mime_url>#attachment=<index>`, where index is
its 0-based position in `attachments` (the order the MIME parser met the parts, depth first), plus its
sha256 so a receiver extracting the part itself can check it took the right one.

Quoted history is removed with mail-parser-reply (`stripped_text`). That library (1.36) has no
Portuguese rules and its Spanish "El … escribió:" rule never matches an unquoted line, so both are
supplied here; every other rule is the library's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import version
from typing import Any

from mailparser_reply.constants import QUOTED_MATCH_INCLUDE
from mailparser_reply.parser import EmailMessage

from pipelines.mime.message import Address, ParsedMessage
from pipelines.mime.parse import extract_message_ids
from pipelines.tenants import Tenant
from pipelines.threads.reply import ReplyHeaders

SCHEMA_VERSION = 1
EVENT_TYPE = "inbound.message"

MAX_BODY_BYTES = 1024 * 1024
"""The whole encoded payload, at most (the SQS message ceiling)."""
TEXT_MAX_BYTES = 512 * 1024
"""`text.content`, in UTF-8 bytes."""
HTML_MAX_BYTES = 256 * 1024
"""`html.content`, in UTF-8 bytes."""
STRIPPED_MAX_BYTES = 128 * 1024
"""`stripped_text`, in UTF-8 bytes."""
SIGNATURE_MAX_BYTES = 8 * 1024
"""`stripped_signature`, in UTF-8 bytes."""
SUBJECT_MAX_BYTES = 2 * 1024
"""`subject` and `reply.Subject`, in UTF-8 bytes."""
ADDRESSES_MAX = 50
"""Entries kept of each of to, cc, reply_to and envelope.rcpt_to."""
ADDRESS_MAX_BYTES = 256
"""One address, or one display name, in UTF-8 bytes."""
ATTACHMENTS_MAX = 100
"""Attachment entries kept."""
REFERENCES_MAX = 100
"""Message ids kept of a References list: the first (the thread root) and the most recent ones."""
ID_MAX_BYTES = 255
"""One message id, filename, content type or content id, in UTF-8 bytes."""
HEADER_MAX_BYTES = 2 * 1024
"""One value of `headers`, in UTF-8 bytes."""
STRIP_INPUT_CHARS = 200_000
"""Characters of the text the reply parser reads: the newest reply is at the top, and the parser's
regular expressions over a megabyte of quoted history cost a tenth of a second or more."""

DEFAULT_LANGUAGES: tuple[str, ...] = ("es", "pt", "en", "de", "fr")
"""Languages whose quote headers ("El … escribió:", "Em … escreveu:", "On … wrote:") are recognised."""

HTML_OMITTED = "not_given: the HTML part is in the raw MIME at raw_mime_url"


@dataclass(frozen=True, slots=True)
class StrippedReply:
    text: str
    """The newest reply without the quoted history below it (signature kept)."""
    signature: str | None
    """What the parser took for the signature of that reply, if anything (a hint: it can be wrong)."""
    quote_found: bool
    """True when a quote header or separator was found, i.e. something was removed."""
    truncated: bool
    """True when the input was longer than `STRIP_INPUT_CHARS` and only its start was read."""


def event_id_for(tenant_id: str, ses_message_id: str) -> str:
    """The stable id of the hand-off of one SES receipt to one tenant (see the module docstring)."""
    return hashlib.sha256(f"{tenant_id}\n{ses_message_id}".encode()).hexdigest()


def reply_from_address(tenant: Tenant, message: ParsedMessage) -> str | None:
    """The tenant's public address the customer wrote to (To, then Cc), else its first public address."""
    written_to = {a.address.lower() for a in (*message.to, *message.cc)}
    for address in tenant.public_addresses:
        if address in written_to:
            return address
    return tenant.public_addresses[0] if tenant.public_addresses else None


def build_payload(
    message: ParsedMessage,
    *,
    tenant_id: str,
    ses_message_id: str,
    object_key: str,
    archive_url: str,
    thread_id: str | None,
    reply_headers: ReplyHeaders | None,
    reply_from: str,
    received_at: datetime,
    envelope_recipients: Sequence[str] | None = None,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    case_address: str | None = None,
    case_id: str | None = None,
) -> dict[str, Any]:
    """The schema-1 payload for one inbound message.

    `archive_url` is where `object_key` lives (the store's URL, e.g. `s3://bucket` or `s3://bucket/prefix`);
    `reply_headers` come from threading (None when the message has no id to answer: In-Reply-To and
    References are then null and the subject is `Re: ` + the subject); `reply_from` is the tenant's public
    address the answer is sent from; `envelope_recipients` are the SES notification's receipt recipients
    when known (else the `for` addresses of SES's Received header).
    `case_address` is the tracking address the answer should set as Reply-To (`pipelines.threads.tracking`), so the
    customer's next mail joins the case; `case_id` the case a verified tracking address among the envelope
    recipients names (never the raw plus-tag: `mailbox_hash` is what the sender wrote, unverified).
    """
    raw_mime_url = f"{archive_url.rstrip('/')}/{object_key.lstrip('/')}"
    text, text_cut = _clip(message.text_body, TEXT_MAX_BYTES)
    html = message.html
    html_content, html_cut = _clip(html, HTML_MAX_BYTES) if html is not None else (None, False)
    stripped = strip_reply(message.text_body, languages)
    stripped_text, stripped_cut = _clip(stripped.text, STRIPPED_MAX_BYTES)
    signature = _clip(stripped.signature, SIGNATURE_MAX_BYTES)[0] if stripped.signature else None
    to, to_cut = _addresses(message.to)
    cc, cc_cut = _addresses(message.cc)
    reply_to, reply_to_cut = _addresses(message.reply_to)
    rcpt = list(envelope_recipients) if envelope_recipients is not None else list(message.ses.envelope_recipients)
    attachments = [
        {
            "index": index,
            "url": f"{raw_mime_url}#attachment={index}",
            "filename": _short(a.filename),
            "content_type": _short(a.content_type),
            "size": a.size_bytes,
            "sha256": a.sha256,
            "content_id": _short(a.content_id),
            "disposition": a.disposition,
            "is_forwarded_message": a.is_forwarded_message,
        }
        for index, a in enumerate(message.attachments[:ATTACHMENTS_MAX])
    ]
    payload: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "type": EVENT_TYPE,
        "event_id": event_id_for(tenant_id, ses_message_id),
        "ids": {
            "tenant_id": tenant_id,
            "ses_message_id": ses_message_id,
            "rfc_message_id": _short(message.message_id),
            "thread_id": thread_id,
            "case_id": _short(case_id),
            "in_reply_to": _short(next(iter(extract_message_ids(message.in_reply_to)), None)),
            "references": [_short(i) for i in _keep_root_and_recent(extract_message_ids(message.references))],
        },
        "received_at": _iso(received_at),
        "sent_at": _iso(message.date) if message.date else None,
        "object_key": object_key,
        "raw_mime_url": raw_mime_url,
        "size_bytes": message.size_bytes,
        "from": _address(message.from_) if message.from_ else None,
        "to": to,
        "cc": cc,
        "reply_to": reply_to,
        "recipients_truncated": to_cut or cc_cut or reply_to_cut or len(rcpt) > ADDRESSES_MAX,
        "envelope": {
            "mail_from": _short(message.ses.envelope_sender),
            "rcpt_to": [_clip(r, ADDRESS_MAX_BYTES)[0] for r in rcpt[:ADDRESSES_MAX]],
        },
        "mailbox_hash": _mailbox_hash(rcpt),
        "subject": _clip(message.subject, SUBJECT_MAX_BYTES)[0],
        "text": {"content": text, "truncated": text_cut, "from_html": message.body_from_html},
        "html": {
            "content": html_content,
            "truncated": html_cut,
            "present": message.has_html,
            "omitted_reason": HTML_OMITTED if message.has_html and html is None else None,
        },
        "stripped_text": stripped_text,
        "stripped_signature": signature,
        "reply_parser": {
            "name": "mail-parser-reply",
            "version": _library_version(),
            "languages": list(languages),
            "quote_found": stripped.quote_found,
            "truncated": stripped_cut or stripped.truncated,
        },
        "attachments": attachments,
        "attachments_truncated": len(message.attachments) > ATTACHMENTS_MAX,
        "headers": {name: _clip(value, HEADER_MAX_BYTES)[0] for name, value in sorted(message.headers.items())},
        "auth": {
            "spf": message.ses.spf_verdict,
            "dkim": message.ses.dkim_verdict,
            "dmarc": message.ses.dmarc_verdict,
            "spam": message.ses.spam_verdict,
            "virus": message.ses.virus_verdict,
        },
        "mime": {"parser": message.parser, "warnings": list(message.warnings)},
        "reply": {**_reply(reply_headers, reply_from, message.subject), "Reply-To": _short(case_address)},
    }
    return _fit(payload)


def payload_bytes(payload: Mapping[str, Any]) -> bytes:
    """Canonical encoding: compact JSON, keys sorted, UTF-8 (not ASCII-escaped). These bytes are signed."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Quoted history


def _from_header(words: str) -> str:
    """An Outlook-style block of at least two `Word: value` lines, built like the library's own."""
    return r"((?:(?:^|\n|\n" + QUOTED_MATCH_INCLUDE + r")[* ]*(?:" + words + r"):[ *]*(?:\s{,2}).*){2,}(?:\n.*){,1})"


_EXTRA_RULES: dict[str, dict[str, str | list[str]]] = {
    "es": {
        "wrote_header": r"^(" + QUOTED_MATCH_INCLUDE + r"El\s.+\sescribió:)$"
        r"|^(" + QUOTED_MATCH_INCLUDE + r"-{3,} ?Mensaje original ?-{3,})$",
    },
    "pt": {
        "wrote_header": r"^(" + QUOTED_MATCH_INCLUDE + r"Em\s.+\sescreveu:)$"
        r"|^(" + QUOTED_MATCH_INCLUDE + r"-{3,} ?Mensagem original ?-{3,})$",
        "from_header": _from_header("De|Enviado|Enviada|Enviadas|Para|Assunto|Data|Cc|Cco"),
        "disclaimers": ["Aviso:", "Confidencialidade:"],
        "signatures": ["Atenciosamente,", "Abraços,", "Obrigad[oa],", "Grat[oa],", "Att,", "Cordialmente,"],
        "sent_from": r"Enviado do meu.*|Enviado a partir d[oe].*",
    },
}
"""Rules added to or replacing the library's, by language and rule name (see the module docstring)."""


class _Message(EmailMessage):
    """The library's message with `_EXTRA_RULES` consulted first."""

    def _get_language_regex(self, language: str, regex_key: str) -> str:
        rule = _EXTRA_RULES.get(language, {}).get(regex_key)
        if rule is not None:
            return "|".join(rule) if isinstance(rule, list) else rule
        return super()._get_language_regex(language, regex_key)


def strip_reply(text: str, languages: Sequence[str] = DEFAULT_LANGUAGES) -> StrippedReply:
    """The newest reply of a plain-text body, without the quoted history under it.

    Hyphen lists are not taken for signatures (the library would otherwise cut a reply at its first
    `- item` line). When the body starts with a quote header (nothing written above it) the text is ''.
    """
    truncated = len(text) > STRIP_INPUT_CHARS
    parsed = _Message(text=text[:STRIP_INPUT_CHARS], languages=list(languages), keep_hyphen_lists=True).read()
    newest = parsed.replies[0] if parsed.replies else None
    if newest is None or newest.headers:
        return StrippedReply("", None, quote_found=bool(parsed.replies), truncated=truncated)
    return StrippedReply(
        text=newest.full_body,
        signature=newest.signatures or None,
        quote_found=len(parsed.replies) > 1,
        truncated=truncated,
    )


@cache
def _library_version() -> str:
    return version("mail-parser-reply")


# --------------------------------------------------------------------------------------------
# Fields


def _clip(value: str, max_bytes: int) -> tuple[str, bool]:
    """At most `max_bytes` of UTF-8 (cut on a character boundary), and whether it was cut. Lone
    surrogates, which JSON cannot carry as UTF-8, become '?'."""
    data = value.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return data.decode("utf-8"), False
    return data[:max_bytes].decode("utf-8", "ignore"), True


def _short(value: str | None) -> str | None:
    return None if value is None else _clip(value, ID_MAX_BYTES)[0]


def _address(address: Address) -> dict[str, str | None]:
    return {
        "email": _clip(address.address, ADDRESS_MAX_BYTES)[0],
        "name": _clip(address.name, ADDRESS_MAX_BYTES)[0] or None,
    }


def _addresses(addresses: Sequence[Address]) -> tuple[list[dict[str, str | None]], bool]:
    return [_address(a) for a in addresses[:ADDRESSES_MAX]], len(addresses) > ADDRESSES_MAX


def _mailbox_hash(recipients: Sequence[str]) -> str | None:
    """The plus-tag of the first envelope recipient that has one (`caminos+case-12@…` → `case-12`)."""
    for recipient in recipients:
        local = recipient.rpartition("@")[0]
        if "+" in local:
            return _clip(local.split("+", 1)[1], ADDRESS_MAX_BYTES)[0]
    return None


def _keep_root_and_recent(ids: list[str]) -> list[str]:
    if len(ids) <= REFERENCES_MAX:
        return ids
    return [ids[0], *ids[len(ids) - REFERENCES_MAX + 1 :]]


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware one (UTC)")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _reply(headers: ReplyHeaders | None, reply_from: str, subject: str) -> dict[str, Any]:
    """The headers the answer should carry, as header values ready to set."""
    if headers is None:
        return {
            "From": reply_from,
            "Subject": _clip(f"Re: {subject}".strip(), SUBJECT_MAX_BYTES)[0],
            "In-Reply-To": None,
            "References": None,
        }
    answered = extract_message_ids(headers.in_reply_to)
    references = [_short(i) for i in _keep_root_and_recent(extract_message_ids(headers.references))]
    return {
        "From": reply_from,
        "Subject": _clip(headers.subject or "", SUBJECT_MAX_BYTES)[0],
        "In-Reply-To": f"<{_short(answered[0])}>" if answered else None,
        "References": " ".join(f"<{i}>" for i in references) or None,
    }


def _fit(payload: dict[str, Any]) -> dict[str, Any]:
    """Cut `html`, then `text`, then `stripped_text` further when the body exceeds the limit."""
    while payload["html"]["content"] and (excess := len(payload_bytes(payload)) - MAX_BODY_BYTES) > 0:
        size = len(payload["html"]["content"].encode("utf-8"))
        cut, _ = _clip(payload["html"]["content"], max(0, size - excess))
        payload["html"] = {**payload["html"], "content": cut, "truncated": True}
    for field in ("text", "stripped"):
        while (excess := len(payload_bytes(payload)) - MAX_BODY_BYTES) > 0:
            current = payload["text"]["content"] if field == "text" else payload["stripped_text"]
            size = len(current.encode("utf-8"))
            if size == 0:
                break
            cut, _ = _clip(current, max(0, size - excess))
            if field == "text":
                payload["text"] = {**payload["text"], "content": cut, "truncated": True}
            else:
                payload["stripped_text"] = cut
                payload["reply_parser"] = {**payload["reply_parser"], "truncated": True}
    if len(payload_bytes(payload)) > MAX_BODY_BYTES:
        raise ValueError(f"payload for {payload['event_id']} exceeds {MAX_BODY_BYTES} bytes even without text")
    return payload
