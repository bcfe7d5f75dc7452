"""Properties of event lines, over seeded Hypothesis examples: any bytes read as lines end, line by line,
as rows or as a quarantine reason, never both and never neither; and on every line the DuckDB path
takes, it gives exactly the rows of the reference normalizer.

The lines are raw bytes, and SES events (every type, plain or SNS-wrapped) with any JSON value put in
any field, timestamps in many shapes, lone surrogate escapes, numbers beyond 64 bits, keys given
twice, written with varied JSON formatting and sometimes damaged byte by byte."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from pipelines.events.normalize import DETAIL_KEYS, EVENT_TYPES
from pipelines.generator.hostile_events import event
from pipelines.tenants import parse_registry
from tests.conftest import fuzz_settings
from tests.events.both_paths import as_set, bulk, numbered_lines, reference

REGISTRY = parse_registry(
    """
tenants:
  - id: t42
    name: Tenant 42
    inbound_addresses: [t42@ses.example.com]
    sending_domains: [t42.example.com]
    configuration_sets: [t42-outbound]
"""
)
PROPERTIES = fuzz_settings(60)

TIMESTAMPS = st.one_of(
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{}".format,
        st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25), st.integers(0, 61),
        st.integers(0, 61), st.sampled_from(["", ".0", ".123", ".123456", ".1234567", ".5"]),
        st.sampled_from(["Z", "z", "", "+00:00", "-05:00", "+14:00", "+99:00", "+05", " UTC"]),
    ),
    st.sampled_from(["2026-03-01", "2026-3-1T1:2:3Z", "2026-03-01 12:00:00", "20260301T120000Z", "yesterday", ""]),
)  # fmt: skip
TEXT = st.text(st.characters(codec=None, categories=["L", "N", "P", "Zs", "Cc", "Cs", "So"]), max_size=12)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=False, allow_infinity=False),
    TEXT, TIMESTAMPS, st.sampled_from(["17.1.2.3", "40.94.97.3", "Mozilla/5.0", "GoogleImageProxy", "A@B.C"]),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6
)
FIELDS = (
    ("eventType",), ("mail",), ("mail", "messageId"), ("mail", "timestamp"), ("mail", "source"), ("mail", "tags"),
    ("mail", "tags", "tenant"), ("mail", "tags", "ses:configuration-set"), ("mail", "destination"),
    ("mail", "commonHeaders"), ("mail", "commonHeaders", "from"), ("detail",), ("detail", "timestamp"),
    ("detail", "recipients"), ("detail", "bouncedRecipients"), ("detail", "complainedRecipients"),
    ("detail", "delayedRecipients"), ("detail", "bounceType"), ("detail", "ipAddress"), ("detail", "userAgent"),
    ("detail", "link"), ("detail", "linkTags"), ("detail", "feedbackId"), ("extra",), ("Type",),
)  # fmt: skip


@st.composite
def event_records(draw: st.DrawFn) -> tuple[object, bool]:
    """An SES event of any type with a few fields replaced by arbitrary JSON values; sometimes wrapped
    in an SNS envelope, sometimes an identity notification. True when it is a plain, untouched
    event-publishing record."""
    record = event(draw(st.integers(0, 50)), tenant=draw(st.sampled_from(["t42", "other"])))
    event_type = draw(st.sampled_from(EVENT_TYPES))
    detail = record.pop("delivery")
    detail["bouncedRecipients"] = [{"emailAddress": "Bounced@Example.com", "diagnosticCode": "smtp; 550"}]
    record.update({"eventType": event_type, DETAIL_KEYS[event_type]: detail})
    replaced = draw(st.lists(st.sampled_from(FIELDS), max_size=3))
    for path in replaced:
        path = tuple(DETAIL_KEYS[event_type] if part == "detail" else part for part in path)
        target = record
        for part in path[:-1]:
            target = target.setdefault(part, {}) if isinstance(target, dict) else {}
        if isinstance(target, dict):
            target[path[-1]] = draw(VALUES)
    wrap = draw(st.sampled_from(["plain", "plain", "sns", "identity"]))
    if wrap == "sns":
        return {"Type": "Notification", "MessageId": "m", "Message": json.dumps(record)}, False
    if wrap == "identity":
        return {"notificationType": record.pop("eventType", None), **record}, False
    return record, not replaced


@st.composite
def event_lines(draw: st.DrawFn) -> tuple[bytes, bool]:
    """One line: an event record written with varied JSON formatting, possibly damaged; True when it
    is an untouched event-publishing record, which the DuckDB path is there to take."""
    record, plain = draw(event_records())
    text = json.dumps(
        record,
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")])),
    )
    repeated = draw(st.sampled_from([None, None, "eventType", "mail", "Type", "messageId", "timestamp", "tags"]))
    if repeated:  # the same key twice in one object: the reference keeps the last
        opening = 0 if repeated in ("eventType", "mail", "Type") else text.find("{", text.find('"mail"'))
        if opening >= 0:
            text = f'{text[: opening + 1]}"{repeated}": {json.dumps(draw(VALUES))}, {text[opening + 1 :]}'
    line = text.encode("utf-8", "surrogatepass")  # a lone surrogate unescaped is not UTF-8
    damage = draw(st.integers(0, 2))
    for _ in range(damage):
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        at = draw(st.integers(0, len(line)))
        byte = draw(st.sampled_from([b"{", b"}", b'"', b",", b"\\", b"\x00", b"\xff", b"\xc3", b"0", b" ", b"\t"]))
        if edit == "insert":
            line = line[:at] + byte + line[at:]
        elif edit == "delete":
            line = line[:at] + line[at + 1 :]
        else:
            line = line[:at] + byte + line[at + 1 :]
    return line, plain and not damage and not repeated


LINES = st.one_of(event_lines(), event_lines(), st.binary(max_size=80).map(lambda line: (line, False)))


@PROPERTIES
@given(st.lists(LINES, min_size=1, max_size=30), st.sampled_from([b"\n", b"\r\n", b"\n \n"]))
def test_every_line_ends_as_rows_or_a_reason_and_the_duckdb_path_agrees_with_the_reference(lines, separator):
    # a blank first line, so that lines of random bytes never make the file look like gzip
    numbered, refused = numbered_lines(b"\n" + separator.join(line for line, _ in lines))
    assert not refused  # nothing here is over the line cap
    files = {"file": numbered}
    rows, bad = reference(files, REGISTRY)
    with_rows = {row["line_number"] for row in rows}
    with_reason = {line for _, line, _ in bad}
    assert with_rows | with_reason == {number for number, _ in numbered}
    assert not with_rows & with_reason

    bulk_rows, leftovers = bulk(files, REGISTRY)
    taken = {number for number, _ in numbered} - {number for _, number, _ in leftovers}
    assert taken <= with_rows  # the DuckDB path never takes a line the reference refuses
    expected = [row for row in rows if row["line_number"] in taken]
    assert as_set(bulk_rows) == as_set(expected)
    assert len(bulk_rows) == len(expected)
    # and it is not agreement by refusal: every untouched event-publishing line is taken
    starts = itertools.accumulate((line.count(b"\n") + separator.count(b"\n") for line, _ in lines), initial=2)
    plain = {number for number, (_, untouched) in zip(starts, lines, strict=False) if untouched}
    assert plain <= taken
