"""SES's prepended block: Received, verdicts and authentication results."""

from __future__ import annotations

from datetime import UTC, datetime

from pipelines.mime.message import Address, ParsedMessage
from pipelines.mime.parse import parse_message


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
