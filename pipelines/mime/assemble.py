"""A `ParsedMessage` from a header block and a collected body, the same whichever walker read the body."""

from __future__ import annotations

from pipelines.mime.addresses import dedup, extract_message_ids, find_specs, message_id, normalize_spec, read_addresses
from pipelines.mime.body import Body
from pipelines.mime.charsets import decode_words
from pipelines.mime.dates import parse_date
from pipelines.mime.headers import EXTRA_HEADERS, FORWARD_HEADERS, Head, first_value
from pipelines.mime.message import Address, ParsedMessage
from pipelines.mime.receipt import ses_receipt


def assemble(head: Head, body: Body, size: int, parser: str) -> ParsedMessage:
    """The message from its header block and its collected body; `parser` names the walker."""
    fields = head.fields
    warnings = head.warnings

    def decoded(name: str) -> str | None:
        values = fields.get(name)
        return decode_words(values[0], warnings) if values else None

    def addresses(name: str) -> list[Address]:
        values = fields.get(name)
        if not values:
            return []
        if len(values) == 1:
            return read_addresses(values[0], warnings)
        return [a for value in values for a in read_addresses(value, warnings)]

    date_raw = decoded("date") or None
    date = None
    if date_raw is None:
        warnings.append("date_missing")
    else:
        date = parse_date(date_raw)
        if date is None:
            warnings.append("date_invalid")
    in_reply_to = decoded("in-reply-to")
    references = decoded("references")
    forwarded = [
        spec
        for name in FORWARD_HEADERS
        for value in fields.get(name, ())
        for token in find_specs(value)
        if (spec := normalize_spec(token))
    ]
    from_ = addresses("from")
    sender = addresses("sender")
    subject = decoded("subject")
    text_body, body_from_html = body.body_text()
    html = body.html_text()
    return ParsedMessage(
        message_id=message_id(first_value(fields, "message-id")),
        in_reply_to=in_reply_to,
        references=references,
        reference_ids=dedup(extract_message_ids(references) + extract_message_ids(in_reply_to)),
        subject=" ".join(subject.split()) if subject else "",
        from_=from_[0] if from_ else None,
        sender=sender[0] if sender else None,
        reply_to=addresses("reply-to"),
        to=addresses("to"),
        cc=addresses("cc"),
        bcc=addresses("bcc"),
        date=date,
        date_raw=date_raw,
        ses=ses_receipt(fields),
        forwarded_to=dedup(forwarded),
        headers={name: decode_words(fields[name][0], warnings) for name in EXTRA_HEADERS if fields.get(name)},
        text_body=text_body,
        body_from_html=body_from_html,
        has_html=body.has_html,
        html=html,
        attachments=body.attachments,
        size_bytes=size,
        parser=parser,
        warnings=sorted(set(warnings + body.warnings)),
    )
