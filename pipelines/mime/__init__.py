"""Raw MIME bytes -> `ParsedMessage`: the header layer, one structural pass with the limits, the body
collector and the fast, fallback and streaming tree walkers behind one entry point.

Raw MIME bytes are messages as SES stored them, or as the reply service archived them: anyone can put
bytes there by sending mail, so every message is hostile until parsed. The entry point is
`pipelines.mime.parse` (`parse_message`, `parse_message_file`); `pipelines.mime.message` holds what it
returns.

Three paths share one header layer, one structural pass and one body collector, so they can only differ
in how the MIME tree is split and transfer-decoded:

* ``fast`` (`pipelines.mime.fast`): fast-mail-parser's tree API (Rust) splits and decodes the body parts.
* ``fallback`` (`pipelines.mime.fallback`): the stdlib ``email`` package (``policy=compat32``) splits
  the tree, our own lenient decoders decode it. Used whenever fast-mail-parser raises (bad base64) or
  would have to guess: a multipart without usable or closing boundaries, a part whose headers run
  into its body, an empty part, quoted-printable it decodes its own way (raw 8-bit bytes, a stray '='),
  a body cut at a limit. Repairs are thus always made, and reported, one way.
* ``stream`` (`pipelines.mime.stream`): for files too large to hold decoded in memory, and for mail in
  memory whose shape would make the stdlib slow (`FALLBACK_BUDGET`).

The top-level header block is always split and decoded by this package (`pipelines.mime.headers`),
never by a MIME library: it is capped before anything parses it (the stdlib's default policy is
super-linear on huge headers), RFC 2047 words are decoded the way other decoders get wrong (a
character split across two encoded words, unknown charsets), and SES's prepended block is read. The
MIME parsers are only handed the top level's Content-* headers and the body.

Before any MIME library sees a body, `pipelines.mime.structure` walks it once in linear time (a bounded
stack of open multiparts, a dict of their delimiters, no rescans) and applies the structural limits; the
streaming walker is that same walk with decoders attached. Everything else is linear too: every regular
expression applied to message text is free of super-linear backtracking, HTML reaches html2text only when
a linear pre-scan finds it safe, and the HTML part comes from the message's own parse. Text is always
text: charsets are decoded by text codecs only (``unicode-escape``, ``idna``, ``base64`` and the like count
as unknown), and no string of a `ParsedMessage` holds a lone surrogate.

Limits (`pipelines.mime.limits`, plus the caps of `headers` and `body`). Past a body limit the message is
read as if it ended there: headers, ids, verdicts, sizes and the parts already complete are kept, and the
limit's warning says what was cut; every walker keeps the same.

| limit | value | beyond it | why |
|---|---|---|---|
| `MESSAGE_SIZE_LIMIT` | 64 MiB | refused unread: `MimeLimitError`, reason ``too_large`` | SES handles at most 40 MB of mail |
| `HEADER_BLOCK_CAP` | 4 MiB | the rest of the block is skipped (``header_truncated``) | the block is held and decoded whole |
| `HEADER_VALUE_CAP` | 65,536 characters | the value is cut between tokens (``header_truncated``) | about 2,500 addresses |
| `HEADER_FIELD_LIMIT` | 1,000 fields | later fields are skipped (``limit_header_fields``) | real blocks hold under 100 |
| `NESTING_LIMIT` | 100 multiparts open | the body ends after the deeper multipart's header block (``limit_nesting``) | Postfix's `mime_nesting_limit`; fast-mail-parser crashes at ~35,000 levels |
| `PART_LIMIT` | 10,000 parts | the body ends before the next part's delimiter (``limit_parts``) | ClamAV's `MaxFiles`; the libraries hold an object per part |
| `PART_HEADER_LIMIT` | 32 KiB per part | the body ends before the header line past it (``limit_part_header_size``) | real blocks hold under 2 KB |
| `PART_HEADER_LINES_LIMIT` | 100,000 lines, all parts | the body ends before the line past it (``limit_part_header_lines``) | the libraries hold an object per line |
| `LINE_LENGTH_LIMIT` | 64 KiB looked at | longer lines are read on as text; a delimiter padded with blanks past it ends the body (``limit_line_length``) | a line is only held whole up to this |
| `TEXT_CAP` | 1,000,000 characters | the text body is cut (``body_truncated``) | the lake row |
| `HTML_CAP` | 1,000,000 characters | the HTML part is cut (``html_truncated``), and so is what is converted to text | html2text reads ~4 MB/s |
| `HTML_NESTING_LIMIT` | 100 lists or blockquotes open | a simple linear converter reads the HTML (``limit_html_nesting``) | html2text is quadratic in that depth |
| `HTML_SCAN_FACTOR` | 8 rescanned bytes per byte | a simple linear converter reads the HTML (``html_unconvertible``) | Python's HTML parser rescans unterminated tags |
| `FALLBACK_BUDGET` | 5,000,000 units (~0.3 s) | the streaming walker reads the message from memory (same fields) | the stdlib tests each line against every open boundary |

Modules, each depending only on those listed before it:

* `message`: the parsed-message dataclasses and the refusals (`MimeParseError`, `MimeLimitError`).
* `transfer`: base64 and quoted-printable decoding.
* `charsets`: charset labels, lenient decoding, RFC 2047 encoded words.
* `limits`: the structural limits.
* `headers`: the top-level header block (caps, `Head`, field unfolding).
* `addresses`: address headers and message ids.
* `dates`: RFC 5322 dates.
* `receipt`: SES's prepended block -> `SesReceipt`.
* `parts`: what a part's Content-* headers say (`Part`).
* `structure`: the one linear walk over a body, with the limits (`Walker`, `measure`).
* `body`: the body collector every walker feeds, HTML to text.
* `assemble`: header block + body -> `ParsedMessage`.
* `stream`, `fast`, `fallback`: the three walkers.
* `parse`: the entry points.

Warnings, sorted, each once: ``address_unparseable``, ``bad_base64``, ``body_truncated``,
``charset_unknown``, ``date_invalid``, ``date_missing``, ``header_8bit``, ``header_garbage`` (junk lines
before the headers), ``header_separator_missing``, ``header_truncated``, ``html_truncated``,
``html_unconvertible``, ``multipart_boundary_missing``, ``multipart_unterminated``, and the limits'
``limit_header_fields``, ``limit_html_nesting``, ``limit_line_length``, ``limit_nesting``,
``limit_part_header_lines``, ``limit_part_header_size``, ``limit_parts``.
"""  # noqa: E501 - the limits table is Markdown, one row a line
