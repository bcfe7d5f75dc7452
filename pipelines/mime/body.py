"""The body collector every walker feeds: the first text/plain and text/html parts, attachment
sizes and hashes, then the text body (HTML converted to text when there is no text part), capped."""

from __future__ import annotations

import hashlib
import html as htmllib
import io
import re
from dataclasses import dataclass, field

import html2text

from pipelines.mime.charsets import decode_bytes
from pipelines.mime.message import AttachmentInfo
from pipelines.mime.parts import ATTACHMENT, IGNORED, PLAIN, Part

TEXT_CAP = 1_000_000
"""Characters kept of the text body."""
HTML_CAP = 1_000_000
"""Characters of HTML converted to text when a message has no text part (html2text is slow)."""


_Text = tuple[bytes, str | None, bool]
"""A body part kept for later: (transfer-decoded bytes, charset, bytes were cut)."""


@dataclass(slots=True)
class Body:
    """Collects body parts and attachments in walk order, then yields the body fields."""

    warnings: list[str] = field(default_factory=list)
    plain: _Text | None = None
    html: _Text | None = None
    has_html: bool = False
    attachments: list[AttachmentInfo] = field(default_factory=list)

    def leaf(self, part: Part, data: bytes) -> None:
        """A fully decoded leaf part: body text, attachment, or neither."""
        kind = part.kind
        if kind == ATTACHMENT:
            self.attachment(part, len(data), hashlib.sha256(data).hexdigest())
        elif kind != IGNORED:
            self.text(part, data)

    def text(self, part: Part, data: bytes, cut: bool = False) -> None:
        if part.kind == PLAIN:
            if self.plain is None:
                self.plain = (data, part.charset, cut)
        else:
            self.has_html = True
            if self.html is None:
                self.html = (data, part.charset, cut)

    def attachment(self, part: Part, size: int, sha256: str) -> None:
        self.attachments.append(
            AttachmentInfo(
                filename=part.filename,
                content_type=part.content_type,
                size_bytes=size,
                sha256=sha256,
                disposition=part.disposition,
                content_id=part.content_id,
                is_forwarded_message=part.content_type in ("message/rfc822", "message/global"),
            )
        )

    def has_text(self) -> bool:
        """Whether a text/plain body with more than blanks was found: then HTML is not needed."""
        if self.plain is None:
            return False
        data, charset, _ = self.plain
        prefix = decode_bytes(data[:4096], charset, [])
        return bool(prefix.rstrip("\ufffd").strip() or len(data) > 4096 and self._decode(self.plain)[0].strip())

    def body_text(self) -> tuple[str, bool]:
        """(text_body, body_from_html). A blank text part next to an HTML one counts as none."""
        text, cut = self._decode(self.plain) if self.plain else ("", False)
        from_html = False
        if self.html is not None and not text.strip():
            from_html = True
            html, cut = self._decode(self.html)
            cut = cut or len(html) > HTML_CAP
            text = _html_to_text(html[:HTML_CAP], self.warnings)
        if cut or len(text) > TEXT_CAP:
            self.warnings.append("body_truncated")
            text = text[:TEXT_CAP]
        return text, from_html

    def _decode(self, body: _Text) -> tuple[str, bool]:
        data, charset, cut = body
        text = decode_bytes(data, charset, self.warnings)
        if "\r" in text:  # CRLF and lone CR to LF, in C (str.replace is several times slower)
            text = io.IncrementalNewlineDecoder(None, translate=True).decode(text, final=True)
        return text, cut


_WS_BEFORE_NEWLINE = re.compile(r"[ \t\xa0]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


class HtmlToText(html2text.HTML2Text):
    """Plain text, not Markdown: no wrapping, images, link targets, emphasis or table drawing."""

    def __init__(self) -> None:
        super().__init__()
        self.body_width = 0
        self.ignore_images = True
        self.ignore_links = True  # the link text stays, the URL markup goes
        self.ignore_tables = True
        self.ignore_emphasis = True
        self.unicode_snob = True

    def handle_tag(self, tag: str, attrs: dict[str, str | None], start: bool) -> None:
        super().handle_tag(tag, attrs, start)
        if not start and tag in ("td", "th"):
            self.o(" ")  # keep table cells apart: 'Total 50 €', not 'Total50 €'


_TAG = re.compile(r"<[^>]*>")


def _html_to_text(html: str, warnings: list[str]) -> str:
    try:
        text = HtmlToText().handle(html)
    except Exception:  # html2text has crashed on hostile markup; a crude reading beats none
        warnings.append("html_unconvertible")
        text = htmllib.unescape(_TAG.sub(" ", html))
    return _BLANK_RUNS.sub("\n\n", _WS_BEFORE_NEWLINE.sub("\n", text)).strip()
