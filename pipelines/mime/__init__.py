"""Raw MIME bytes -> `ParsedMessage`: the header layer, the body collector and the fast, fallback and
streaming tree walkers behind one entry point.

Raw MIME bytes are messages as SES stored them, or as the reply service archived them. The entry
point is `pipelines.mime.parse` (`parse_message`, `parse_message_file`); `pipelines.mime.message`
holds what it returns.

Three paths share one header layer and one body collector, so they can only differ in how the
MIME tree is split and transfer-decoded:

* ``fast`` (`pipelines.mime.fast`): fast-mail-parser's tree API (Rust) splits and decodes the body parts.
* ``fallback`` (`pipelines.mime.fallback`): the stdlib ``email`` package (``policy=compat32``) splits
  the tree, our own lenient decoders decode it. Used whenever fast-mail-parser raises (bad base64) or
  would have to guess: a multipart without usable or closing boundaries, a part whose headers run
  into its body, an empty part, raw 8-bit bytes inside quoted-printable (which it drops). Repairs are
  thus always made, and reported, one way.
* ``stream`` (`pipelines.mime.stream`): for files too large to hold decoded in memory.

The top-level header block is always split and decoded by this package (`pipelines.mime.headers`),
never by a MIME library: it is capped before anything parses it (the stdlib's default policy is
super-linear on huge headers), RFC 2047 words are decoded the way other decoders get wrong (a
character split across two encoded words, unknown charsets), and SES's prepended block is read. The
MIME parsers are only handed the top level's Content-* headers and the body.

Modules, each depending only on those listed before it:

* `message`: the parsed-message dataclasses.
* `transfer`: base64 and quoted-printable decoding.
* `charsets`: charset labels, lenient decoding, RFC 2047 encoded words.
* `headers`: the top-level header block (caps, `Head`, field unfolding).
* `addresses`: address headers and message ids.
* `dates`: RFC 5322 dates.
* `receipt`: SES's prepended block -> `SesReceipt`.
* `parts`: what a part's Content-* headers say (`Part`).
* `body`: the body collector every walker feeds, HTML to text.
* `assemble`: header block + body -> `ParsedMessage`.
* `fast`, `fallback`, `stream`: the three walkers.
* `parse`: the entry points.

Warnings, sorted, each once: ``address_unparseable``, ``bad_base64``, ``body_truncated``,
``charset_unknown``, ``date_invalid``, ``date_missing``, ``header_garbage`` (junk lines before the
headers), ``header_separator_missing``, ``header_truncated``, ``html_unconvertible``,
``mime_too_deep``, ``multipart_boundary_missing``, ``multipart_unterminated``.
"""
