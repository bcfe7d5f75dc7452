"""What one parsed mail message holds, independent of how it was parsed.

The MIME parser fills these; tenant attribution, the lake writer and threading read them.
Message ids are stored bare (no angle brackets); addresses keep their display name and have
a lower-cased domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

CHUNK_BYTES = 256 * 1024
"""SES bills inbound mail per started 256 KB chunk."""


class MimeParseError(Exception):
    """The bytes are not a mail message we can use at all (empty, binary, no header block).

    `reason` is the quarantine reason: ``empty_object`` or ``not_mail``."""

    def __init__(self, message: str, reason: str = "not_mail") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (str(self), self.reason)  # keeps the reason across processes


class MimeLimitError(MimeParseError):
    """The object is beyond a limit past which nothing useful can be kept (see `pipelines.mime.limits`).

    `reason` names the limit (``too_large``), `limit` is its value."""

    def __init__(self, message: str, reason: str, limit: int) -> None:
        super().__init__(message, reason)
        self.limit = limit

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return type(self), (str(self), self.reason, self.limit)


@dataclass(frozen=True, slots=True)
class Address:
    address: str
    """Normalized `local@domain`: local part kept as written, domain lower-cased."""
    name: str = ""
    """Decoded display name, '' when absent."""

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    filename: str | None
    content_type: str
    size_bytes: int
    """Size of the decoded content."""
    sha256: str
    """Hex digest of the decoded content."""
    disposition: str | None = None
    """'attachment', 'inline' or None."""
    content_id: str | None = None
    is_forwarded_message: bool = False
    """True for a message/rfc822 part (a forwarded mail kept whole)."""


@dataclass(slots=True)
class SesReceipt:
    """What SES prepended to an inbound message (absent on outbound mail)."""

    smtp_id: str | None = None
    """The `with SMTP id …` of SES's Received header: the inbound SES message id."""
    envelope_recipients: list[str] = field(default_factory=list)
    """The `for <…>` addresses of SES's Received header (normalized)."""
    envelope_sender: str | None = None
    """Return-Path."""
    received_at: datetime | None = None
    """Date at the end of SES's Received header, in UTC."""
    spam_verdict: str | None = None
    """Verdicts as SES writes them: spam/virus upper-case ('PASS', 'FAIL', 'GRAY'…), spf/dkim/dmarc
    lower-case ('pass', 'fail', 'softfail', 'none'…)."""
    virus_verdict: str | None = None
    spf_verdict: str | None = None
    dkim_verdict: str | None = None
    dmarc_verdict: str | None = None


@dataclass(slots=True)
class ParsedMessage:
    message_id: str | None
    """Message-ID without brackets, or None."""
    in_reply_to: str | None
    """The In-Reply-To header as written (decoded), or None."""
    references: str | None
    """The References header as written (decoded), or None."""
    reference_ids: list[str]
    """Every `<id>` token of References then In-Reply-To, bare, in order, without repeats."""
    subject: str
    """Decoded subject, whitespace collapsed, no leading/trailing space; '' when absent."""
    from_: Address | None
    sender: Address | None
    reply_to: list[Address]
    to: list[Address]
    cc: list[Address]
    bcc: list[Address]
    date: datetime | None
    """Date header in UTC, None when missing or unparseable (see warnings)."""
    date_raw: str | None
    ses: SesReceipt
    forwarded_to: list[str]
    """Addresses from X-Forwarded-To, Delivered-To and X-Original-To, normalized, without repeats."""
    headers: dict[str, str]
    """Selected further headers by lower-case name: thread-index, x-ses-configuration-set,
    x-ses-message-tags, x-ses-tenant, auto-submitted, list-id, x-mailer, content-language,
    x-forwarded-for."""
    text_body: str
    """The plain-text body; converted from HTML when the message has no (or a blank) text part."""
    body_from_html: bool
    has_html: bool
    attachments: list[AttachmentInfo]
    size_bytes: int
    parser: str
    """Which path parsed it: 'fast', 'fallback' or 'stream'."""
    warnings: list[str]
    """Sorted, distinct machine-readable flags of what was repaired, missing or cut: address_unparseable,
    bad_base64, body_truncated, charset_unknown, date_invalid, date_missing, header_8bit,
    header_garbage, header_separator_missing, header_truncated, html_truncated, html_unconvertible,
    multipart_boundary_missing, multipart_unterminated, and the structural limits of
    `pipelines.mime.limits` (limit_header_fields, limit_html_nesting, limit_line_length, limit_nesting,
    limit_part_header_lines, limit_part_header_size, limit_parts)."""
    html: str | None = None
    """The HTML part a mail client would show (the first text/html body part), decoded to text with its
    line breaks as LF, at most `pipelines.mime.body.HTML_CAP` characters (``html_truncated`` when cut);
    None when the message has no HTML part."""

    @property
    def chunk_count(self) -> int:
        return max(1, -(-self.size_bytes // CHUNK_BYTES))
