"""The body collector every walker feeds: the first text/plain and text/html parts, attachment
sizes and hashes, then the text body (HTML converted to text when there is no text part) and the HTML
part, capped. HTML goes through html2text unless a linear pre-scan finds it too deep or too broken for
it, in which case a simple linear converter reads it."""

from __future__ import annotations

import hashlib
import html as htmllib
import io
import re
from dataclasses import dataclass, field

import html2text

from pipelines.mime.charsets import decode_bytes
from pipelines.mime.limits import HTML_NESTING_LIMIT, HTML_SCAN_FACTOR
from pipelines.mime.message import AttachmentInfo
from pipelines.mime.parts import ATTACHMENT, IGNORED, PLAIN, Part

TEXT_CAP = 1_000_000
"""Characters kept of the text body."""
HTML_CAP = 1_000_000
"""Characters kept of the HTML part (`ParsedMessage.html`), and converted to text when a message has no
text part (html2text reads about 4 MB a second)."""


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
    decoded_html: tuple[str, bool] | None = None
    """The HTML part decoded and capped, and whether it was cut (decoded once, when first needed)."""

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

    def body_text(self) -> tuple[str, bool]:
        """(text_body, body_from_html). A blank text part next to an HTML one counts as none."""
        text, cut = self._decode(self.plain) if self.plain else ("", False)
        from_html = False
        if self.html is not None and not text.strip():
            from_html = True
            html, cut = self._html()
            text = html_to_text(html, self.warnings)
        if cut or len(text) > TEXT_CAP:
            self.warnings.append("body_truncated")
            text = text[:TEXT_CAP]
        return text, from_html

    def html_text(self) -> str | None:
        """The HTML part decoded, at most `HTML_CAP` characters (``html_truncated`` when cut), or None."""
        if self.html is None:
            return None
        html, cut = self._html()
        if cut:
            self.warnings.append("html_truncated")
        return html

    def _html(self) -> tuple[str, bool]:
        if self.decoded_html is None:
            assert self.html is not None
            html, cut = self._decode(self.html)
            self.decoded_html = (html[:HTML_CAP], cut or len(html) > HTML_CAP)
        return self.decoded_html

    def _decode(self, body: _Text) -> tuple[str, bool]:
        data, charset, cut = body
        text = decode_bytes(data, charset, self.warnings)
        if "\r" in text:  # CRLF and lone CR to LF, in C (str.replace is several times slower)
            text = io.IncrementalNewlineDecoder(None, translate=True).decode(text, final=True)
        return text, cut


# --------------------------------------------------------------------------------------------
# HTML to text


_WS_BEFORE_NEWLINE = re.compile(r"(?<![ \t\xa0])[ \t\xa0]+\n")
"""Blanks ending a line. Only a run's first blank can start a match, so a long run costs linear time."""
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


def html_to_text(html: str, warnings: list[str]) -> str:
    """HTML as plain text: html2text for ordinary HTML; the simple converter (with a warning) for HTML
    nested deeper than `HTML_NESTING_LIMIT`, HTML that would make Python's HTML parser rescan
    (`HTML_SCAN_FACTOR`), and HTML html2text crashes on."""
    hazard = html2text_hazard(html)
    if hazard is not None:
        warnings.append(hazard)
        text = simple_html_to_text(html)
    else:
        try:
            text = HtmlToText().handle(html)
        except Exception:  # html2text has crashed on hostile markup; a crude reading beats none
            warnings.append("html_unconvertible")
            text = simple_html_to_text(html)
    return _BLANK_RUNS.sub("\n\n", _WS_BEFORE_NEWLINE.sub("\n", text)).strip()


_MARKUP_START = re.compile(r"<(?:(/?)([a-zA-Z][a-zA-Z0-9]*)|!--|[!?/])")
"""Where Python's HTML parser starts a construct: a start or end tag, a comment, a declaration."""
_HTML2TEXT_NESTED = frozenset(("ul", "ol", "blockquote"))
"""Elements html2text keeps a stack or a counter of, and indents or prefixes every line by."""


class _NextFrom:
    """The next occurrence of `needle` in `text` at or after a position, for positions that never
    decrease: each lookup continues where the last one stopped, so all of them cost one pass."""

    __slots__ = ("found", "needle", "text")

    def __init__(self, text: str, needle: str) -> None:
        self.text, self.needle, self.found = text, needle, -2

    def __call__(self, start: int) -> int:
        if self.found == -1 or self.found >= start:
            return self.found
        self.found = self.text.find(self.needle, start)
        return self.found


def html2text_hazard(html: str) -> str | None:
    """Why html2text must not read `html`, found in one pass: ``limit_html_nesting`` when lists and
    blockquotes nest deeper than `HTML_NESTING_LIMIT`; ``html_unconvertible`` when Python's HTML parser
    would rescan too much (each construct it starts is scanned to its closing '>', quote or '-->', and
    an unterminated one to the end); None when it is safe."""
    size = len(html)
    next_gt, next_comment_end = _NextFrom(html, ">"), _NextFrom(html, "-->")
    quote_opens = {quote: _NextFrom(html, quote) for quote in "'\""}
    quote_closes = {quote: _NextFrom(html, quote) for quote in "'\""}
    depth = work = 0
    budget = HTML_SCAN_FACTOR * size + 65536
    for markup in _MARKUP_START.finditer(html):
        start = markup.start()
        end = next_gt(start + 1)
        reach = size if end < 0 else end
        closing, name = markup.groups()
        if markup.group() == "<!--":
            comment_end = next_comment_end(start + 4)
            reach = size if comment_end < 0 else max(reach, comment_end)
        elif name is not None and not closing:
            for quote in "'\"":
                opened = quote_opens[quote](start)
                if 0 <= opened < reach:
                    closed = quote_closes[quote](opened + 1)
                    reach = size if closed < 0 else max(reach, closed)
        work += reach - start
        if work > budget:
            return "html_unconvertible"
        if name is not None and name.lower() in _HTML2TEXT_NESTED:
            depth = max(0, depth - 1) if closing else depth + 1
            if depth > HTML_NESTING_LIMIT:
                return "limit_html_nesting"
    return None


_DROPPED_START = re.compile(r"<!--|<(script|style)(?![a-zA-Z0-9])", re.IGNORECASE)
_DROPPED_END = {
    "script": re.compile(r"</script(?![a-zA-Z0-9])[^<>]*>", re.IGNORECASE),
    "style": re.compile(r"</style(?![a-zA-Z0-9])[^<>]*>", re.IGNORECASE),
}
_HTML_BLANKS = re.compile(r"[ \t\r\n\f]+")
_BLOCK_TAG = re.compile(
    r"</?(?:address|article|blockquote|br|dd|div|dl|dt|footer|h[1-6]|header|hr|li|ol|p|pre|section|table|title"
    r"|tr|ul)(?![a-zA-Z0-9])[^<>]*>",
    re.IGNORECASE,
)
_CELL_END = re.compile(r"</t[dh](?![a-zA-Z0-9])[^<>]*>", re.IGNORECASE)
_OTHER_MARKUP = re.compile(r"</?[a-zA-Z][^<>]*>|<[!?][^<>]*>")


def simple_html_to_text(html: str) -> str:
    """HTML as text in linear time, by regular expressions without backtracking: comments and script and
    style content dropped, blanks collapsed, block tags ending lines, table cells spaced, other tags
    dropped, entities decoded. A '<' that does not start a tag closed before the next '<' is text."""
    kept: list[str] = []
    pos = 0
    while (dropped := _DROPPED_START.search(html, pos)) is not None:
        kept.append(html[pos : dropped.start()])
        if dropped.group(1) is None:
            end = html.find("-->", dropped.end())
            pos = len(html) if end < 0 else end + 3
        else:
            close = _DROPPED_END[dropped.group(1).lower()].search(html, dropped.end())
            pos = len(html) if close is None else close.end()
    kept.append(html[pos:])
    text = _HTML_BLANKS.sub(" ", "".join(kept))
    text = _OTHER_MARKUP.sub("", _CELL_END.sub(" ", _BLOCK_TAG.sub("\n", text)))
    return "\n".join(line.strip(" ") for line in htmllib.unescape(text).split("\n"))
