"""Firehose event lines → `events` rows in DuckDB, many files at once.

The rules are those of `pipelines.events.normalize` (the reference, and the path for every other shape);
this is the same normalization written as one SQL statement over a batch of lines, so the field
extraction and recipient fan-out run in DuckDB's vectorized engine instead of per line in Python.
A line takes this path only when it is an event-publishing record (`eventType` one of the ten
types, a string `mail.messageId`, its detail an object or absent) whose timestamps have SES's shape
(BULK_TIMESTAMP_PATTERN); every other line (SNS envelopes, identity notifications, bad JSON, bad
required fields, odd timestamps) is handed back for `events.parse_lines`, which gives those their
rows or reasons. Tenant attribution and open/click classification call the same Python functions as
the reference, once per distinct input rather than once per line.

DuckDB never parses a line as delivered: `BulkLines` has orjson (the reference's parser) read each
line and hands DuckDB orjson's re-serialization of the part of it the bulk path reads
(`bulk_document`: the fields of EVENT_STRUCTURE, the event's detail under one key). DuckDB's own
JSON reader is more lenient (NaN, Infinity, 1e400, trailing commas, any depth) and reads duplicate
keys and integers beyond 64 bits differently; reading orjson's output, DuckDB sees exactly the values
the reference sees, and a line orjson refuses goes to the reference, which gives the reason. Leaving
out what is not read (most of a line is `mail.headers`) also spares DuckDB most of the parsing. The
fingerprint is still md5 of the line as delivered.
"""

from __future__ import annotations

import hashlib
import json

import duckdb
import orjson
import pyarrow as pa

from pipelines.events.lines import LINE_WHITESPACE, MAX_LINE_BYTES
from pipelines.events.normalize import (
    APPLE_PROXY_NETWORK,
    CAMPAIGN_TAG,
    DETAIL_KEYS,
    EVENT_TYPES,
    SCANNER_AGENT_MARKERS,
    SCANNER_NETWORKS,
    TENANT_TAGS,
)
from pipelines.tenants import TenantRegistry

TAGS_READ = (*TENANT_TAGS, "ses:configuration-set", "ses:from-domain", CAMPAIGN_TAG)
"""The message tags the bulk path reads. They are read by name: json_transform builds a map of
every tag several times more slowly than the rest of the line together."""
_RECIPIENTS = [{"emailAddress": "VARCHAR", "diagnosticCode": "VARCHAR"}]
DETAIL_STRUCTURE = {
    "timestamp": "VARCHAR", "bounceType": "VARCHAR", "bounceSubType": "VARCHAR", "complaintFeedbackType": "VARCHAR",
    "delayType": "VARCHAR", "link": "VARCHAR", "linkTags": "JSON", "ipAddress": "VARCHAR", "userAgent": "VARCHAR",
    "feedbackId": "VARCHAR", "recipients": ["VARCHAR"], "bouncedRecipients": _RECIPIENTS,
    "complainedRecipients": _RECIPIENTS, "delayedRecipients": _RECIPIENTS,
}  # fmt: skip
EVENT_STRUCTURE = {
    "eventType": "VARCHAR", "Type": "VARCHAR",
    "mail": {
        "messageId": "JSON", "timestamp": "VARCHAR", "source": "VARCHAR", "destination": ["VARCHAR"],
        "tags": {tag: ["VARCHAR"] for tag in TAGS_READ}, "commonHeaders": {"from": ["VARCHAR"]},
    },
    **{key: "JSON" for key in DETAIL_KEYS.values()},
}  # fmt: skip
"""The fields of a line the bulk path reads, as json_transform types (each detail key holds an
object of DETAIL_STRUCTURE). The message id stays JSON text, to be checked to be a string."""
BULK_STRUCTURE = {
    "eventType": "VARCHAR", "Type": "VARCHAR", "mail": EVENT_STRUCTURE["mail"], "detail": DETAIL_STRUCTURE,
}  # fmt: skip
"""How json_transform reads a `bulk_document`."""
_STRUCTURE_TEXT = json.dumps(BULK_STRUCTURE)

_TYPE_LIST = ", ".join(f"'{t}'" for t in EVENT_TYPES)
_NO_RECIPIENT = "{emailAddress: null::varchar, diagnosticCode: null::varchar}"
_ONLY_DESTINATION = (
    "[{emailAddress: if(len(e.mail.destination) = 1, e.mail.destination[1], null), diagnosticCode: null::varchar}]"
)

IPV4_NUMBER_MACRO = """
create or replace temp macro ipv4_number(ip) as (
    case when regexp_full_match(ip, '(0|[1-9][0-9]{0,2})([.](0|[1-9][0-9]{0,2})){3}')
          and greatest(split_part(ip, '.', 1)::int, split_part(ip, '.', 2)::int,
                       split_part(ip, '.', 3)::int, split_part(ip, '.', 4)::int) <= 255
    then split_part(ip, '.', 1)::bigint * 16777216 + split_part(ip, '.', 2)::bigint * 65536
       + split_part(ip, '.', 3)::bigint * 256 + split_part(ip, '.', 4)::bigint
    end)
"""
"""An IPv4 address as a number, null for anything `ipaddress.IPv4Address` would not accept."""

UNSURE_TEXT_PATTERN = r"(^|\x1f)([[{]|-?[0-9]+([.][0-9]+([eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)(\x1f|$))"
"""Over the fields read as text, joined by \\x1f: one that holds a list, an object or a fractional
number. DuckDB writes those back as text in its own way (`[1e21]`, `1e-05`, `\\u001F`) where the
reference writes orjson's (`[1e+21]`, `0.00001`, `\\u001f`), so such a line goes to the reference. A
string that only looks like one goes there too, which costs nothing but time; SES sends neither."""
UNSURE_JSON_PATTERN = r"(^|[:,\[])-?[0-9]+[.eE]|\\u00[01][A-F]"
"""In a field kept as JSON text (`linkTags`): a fractional number or an escaped control character,
which DuckDB and orjson write differently."""

BULK_TIMESTAMP_PATTERN = (
    "[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    "([.][0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
"""Timestamps the bulk path reads itself: SES's ISO 8601 shape (`2026-01-01T12:00:00.000Z`), years
1000-2999, which DuckDB's cast and the reference's `datetime.fromisoformat` read alike. DuckDB also
takes forms the reference refuses (`2026-1-1`, hour 24, year 0, offsets of 99 hours), so any other
shape goes to the reference."""


def _in_network(number: str, network: object) -> str:
    first, last = int(network.network_address), int(network.broadcast_address)
    return f"{number} between {first} and {last}"


def agent_class_sql(event_type: str, number: str, user_agent: str) -> str:
    """`events.classify_agent` as a SQL expression, written from the same constants; `number` is
    the IP address as `ipv4_number` gives it (computed once by the caller: the expression compares
    it with every network)."""
    agent = f"lower(coalesce({user_agent}, ''))"
    scanner_networks = " or ".join(_in_network(number, n) for n in SCANNER_NETWORKS.values())
    markers = " or ".join(f"contains({agent}, '{m}')" for m in SCANNER_AGENT_MARKERS)
    return f"""case
        when {event_type} not in ('Open', 'Click') then null
        when contains({agent}, 'googleimageproxy') or contains({agent}, 'ggpht.com') then 'gmail_proxy'
        when {scanner_networks} then 'scanner'
        when {markers} then 'scanner'
        when {_in_network(number, APPLE_PROXY_NETWORK)} and trim({agent}, ' \t\r\n') = 'mozilla/5.0'
            then 'apple_proxy'
        else 'human' end"""


def _bulk_time(field: str) -> str:
    """A timestamp field as timestamptz when it has BULK_TIMESTAMP_PATTERN's shape, else null."""
    return f"case when regexp_full_match({field}, '{BULK_TIMESTAMP_PATTERN}') then try_cast({field} as timestamptz) end"


def _tag(name: str) -> str:
    """The first value of message tag `name` (a field of EVENT_STRUCTURE's `tags`)."""
    return f'e.mail.tags."{name}"[1]'


_TEXT_SCALARS = [
    "e.mail.source", "d.bounceType", "d.bounceSubType", "d.complaintFeedbackType", "d.delayType", "d.link",
    "d.ipAddress", "d.userAgent", "d.feedbackId",
    *(_tag(tag) for tag in TAGS_READ),
]  # fmt: skip
_TEXT_LISTS = [
    "e.mail.destination", 'e.mail.commonHeaders."from"', "d.recipients",
    *(f"list_transform(d.{key}, lambda r: concat_ws(chr(31), r.emailAddress, r.diagnosticCode))"
      for key in ("bouncedRecipients", "complainedRecipients", "delayedRecipients")),
]  # fmt: skip
_TEXT_FIELDS = [*_TEXT_SCALARS, *(f"array_to_string({field}, chr(31))" for field in _TEXT_LISTS)]
"""The fields read as text that a row shows or is attributed by (the lists' items joined by \\x1f)."""

FAST_SQL = f"""
create or replace temp table _fast as
with parsed as materialized (
    select row, source_key, line_number, fingerprint, json_transform(text, '{_STRUCTURE_TEXT}') as e
    from _lines
    where text is not null
), usable as (
    select *, e.detail as d
    from parsed
    where e.eventType in ({_TYPE_LIST}) and e.Type is distinct from 'Notification' and left(e.mail.messageId, 1) = '"'
), timed as (
    select *, {_bulk_time("d.timestamp")} as detail_at, {_bulk_time("e.mail.timestamp")} as sent_at,
        ipv4_number(d.ipAddress) as ip_number
    from usable
)
select
    row,
    source_key,
    line_number,
    fingerprint,
    e.eventType as event_type,
    e.mail.messageId ->> '$' as ses_message_id,
    coalesce(detail_at, sent_at) as event_at,
    sent_at,
    {_tag("ses:configuration-set")} as configuration_set,
    {_tag("ses:from-domain")} as from_domain,
    {_tag(CAMPAIGN_TAG)} as campaign,
    d.bounceType as bounce_type,
    d.bounceSubType as bounce_subtype,
    d.complaintFeedbackType as complaint_feedback_type,
    d.delayType as delay_type,
    d.link as link,
    case when d.linkTags is null or d.linkTags::varchar in ('{{}}', '[]', '""', '0', 'false') then null
         else d.linkTags::varchar end as link_tags,
    d.ipAddress as ip,
    d.userAgent as user_agent,
    d.feedbackId as feedback_id,
    coalesce(nullif(case e.eventType
        when 'Bounce' then d.bouncedRecipients
        when 'Complaint' then d.complainedRecipients
        when 'DeliveryDelay' then d.delayedRecipients
        when 'Delivery' then list_transform(d.recipients, lambda r: {{emailAddress: r, diagnosticCode: null::varchar}})
        when 'Open' then {_ONLY_DESTINATION}
        when 'Click' then {_ONLY_DESTINATION}
        else list_transform(e.mail.destination, lambda r: {{emailAddress: r, diagnosticCode: null::varchar}})
    end, []), [{_NO_RECIPIENT}]) as recipients,
    to_json({{
        tenant_tags: [{", ".join(_tag(t) for t in TENANT_TAGS)}],
        configuration_set: {_tag("ses:configuration-set")},
        from_domain: {_tag("ses:from-domain")},
        "from": e.mail.commonHeaders."from",
        source: e.mail.source
    }})::varchar as attribution_key,
    {agent_class_sql("e.eventType", "ip_number", "d.userAgent")} as agent_class
from timed
where (d.timestamp is null or detail_at is not null) and (e.mail.timestamp is null or sent_at is not null)
  and coalesce(detail_at, sent_at) is not null
  and not regexp_matches(concat_ws(chr(31), {", ".join(_TEXT_FIELDS)}), '{UNSURE_TEXT_PATTERN}')
  and not coalesce(regexp_matches(d.linkTags::varchar, '{UNSURE_JSON_PATTERN}'), false)
"""
"""The batch's lines that are events of the common shape, one row per event, recipients as a list."""

LEFTOVER_SQL = """
select row from _lines anti join _fast using (row) order by row
"""
"""The lines the bulk path did not take, for the reference (by row of `BulkLines.table()`)."""

ROWS_SQL = """
with fanned as (select *, unnest(recipients) as rcpt from _fast)
select
    f.fingerprint, f.event_type, f.ses_message_id, a.tenant_id, a.attributed_by,
    case when f.event_type in ('Bounce', 'Complaint', 'DeliveryDelay')
         then nullif(lower(coalesce(rcpt.emailAddress, '')), '')
         else lower(rcpt.emailAddress) end as recipient,
    f.event_at, f.sent_at, f.configuration_set, f.from_domain, f.campaign, f.bounce_type, f.bounce_subtype,
    rcpt.diagnosticCode as diagnostic_code,
    f.complaint_feedback_type, f.delay_type, f.link, f.link_tags, f.ip, f.user_agent, f.agent_class, f.feedback_id,
    f.source_key, f.line_number::bigint as line_number, f.event_at::date as _day
from fanned f
left join _attribution a on a.attribution_key = f.attribution_key
"""
"""One row per event × recipient, in the `events` schema plus the partition day."""


def bulk_document(record: object) -> dict | None:
    """The part of a parsed line the bulk path reads: `eventType`, `Type`, the fields of `mail` in
    EVENT_STRUCTURE, and the event's detail (`delivery`, `open`, …; small, so whole) under `detail`.
    None when the bulk path cannot take the line: not an event-publishing record of one of the ten
    types, or a detail that is not an object (the reference says why)."""
    if not isinstance(record, dict):
        return None
    event_type = record.get("eventType")
    if not isinstance(event_type, str) or event_type not in DETAIL_KEYS:
        return None
    detail = record.get(DETAIL_KEYS[event_type])
    if detail is not None and not isinstance(detail, dict):
        return None
    return {
        "eventType": event_type,
        "Type": record.get("Type"),
        "mail": _projected(record.get("mail"), EVENT_STRUCTURE["mail"]),
        "detail": detail,
    }


def _projected(value: object, structure: dict) -> object:
    """An object `value` with only the keys of `structure` (and so on for the objects inside it);
    anything else as it is."""
    if not isinstance(value, dict):
        return value
    return {
        key: _projected(value[key], inner) if isinstance(inner, dict) else value[key]
        for key, inner in structure.items()
        if key in value
    }


class BulkLines:
    """Numbered lines of one or more files, collected for `normalize_batch`. `table()` holds, per line:
    row (its index), source_key, line_number, delivered (the line as delivered), text (orjson's
    serialization of its `bulk_document`, what DuckDB parses; null when orjson refuses the line, the
    bulk path cannot take it, or the text would be over MAX_LINE_BYTES) and fingerprint (md5 of the
    line as delivered, where there is a text; hashlib's md5 costs half of DuckDB's).
    Once the table is built it holds the lines alone (the lists they were collected in are let go),
    so a batch is held once, not twice, while DuckDB reads it."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.numbers: list[int] = []
        self.lines: list[bytes] = []
        self.texts: list[bytes | None] = []
        self.fingerprints: list[str | None] = []
        self.size = 0
        """Bytes held: the lines and their texts."""
        self.built: pa.Table | None = None

    def __len__(self) -> int:
        return self.built.num_rows if self.built is not None else len(self.numbers)

    def add(self, key: str, number: int, line: bytes) -> None:
        """Add one non-blank line of file `key` (before `table()` is called)."""
        if self.built is not None:
            raise RuntimeError("lines added to a batch whose table is built")
        try:
            document = bulk_document(orjson.loads(line.strip(LINE_WHITESPACE)))
            text = None if document is None else orjson.dumps(document)
        except (ValueError, TypeError):  # not JSON to orjson, or nested too deep to write back
            text = None
        if text is not None and len(text) > MAX_LINE_BYTES:
            text = None
        self.keys.append(key)
        self.numbers.append(number)
        self.lines.append(line)
        self.texts.append(text)
        self.fingerprints.append(None if text is None else hashlib.md5(line).hexdigest())
        self.size += len(line) + (0 if text is None else len(text))

    def table(self) -> pa.Table:
        """The lines as an Arrow table (built on the first call, after the last line is added)."""
        if self.built is None:
            self.built = pa.table(
                {
                    "row": pa.array(range(len(self.numbers)), pa.int64()),
                    "source_key": pa.array(self.keys, pa.string()),
                    "line_number": pa.array(self.numbers, pa.int64()),
                    "delivered": pa.array(self.lines, pa.binary()),
                    "text": pa.array(self.texts, pa.binary()).view(pa.string()),  # orjson writes only UTF-8
                    "fingerprint": pa.array(self.fingerprints, pa.string()),
                }
            )
            self.keys, self.numbers, self.lines, self.texts, self.fingerprints = [], [], [], [], []
        return self.built

    def numbered(self, rows: list[int]) -> list[tuple[str, int, bytes]]:
        """(source key, line number, line as delivered) of the lines at `rows`."""
        picked = self.table().select(["source_key", "line_number", "delivered"]).take(pa.array(rows, pa.int64()))
        return list(zip(*(picked.column(name).to_pylist() for name in picked.column_names), strict=True))


def normalize_batch(
    con: duckdb.DuckDBPyConnection, lines: BulkLines, registry: TenantRegistry | None, target: str
) -> list[tuple[str, int, bytes]]:
    """Append the rows of the common-shape lines among `lines` to table `target` (columns as
    ROWS_SQL); return the (key, line number, line as delivered) of the other lines, in the order
    they were added, for the reference."""
    con.execute("set TimeZone = 'UTC'")
    con.execute(IPV4_NUMBER_MACRO)
    con.register("_lines", lines.table())
    try:
        con.execute(FAST_SQL)
        leftovers = lines.numbered([row for (row,) in con.execute(LEFTOVER_SQL).fetchall()])
    finally:
        con.unregister("_lines")
    con.register("_attribution", _attribution_table(con, registry))
    try:
        con.execute(f"insert into {target} {ROWS_SQL}").fetchall()
    finally:
        con.unregister("_attribution")
        con.execute("drop table _fast")
    return leftovers


def _attribution_table(con: duckdb.DuckDBPyConnection, registry: TenantRegistry | None) -> pa.Table:
    """Tenant and rule for each distinct attribution input of the batch, by the registry's own rules."""
    keys = [key for (key,) in con.execute("select distinct attribution_key from _fast").fetchall()]
    tenants, rules = [], []
    for key in keys:
        inputs = json.loads(key)
        attribution = None
        if registry is not None:
            senders = [inputs["from_domain"], *(inputs["from"] or []), inputs["source"]]
            attribution = registry.attribute_sending(
                tenant_tags=inputs["tenant_tags"],
                configuration_set=inputs["configuration_set"],
                senders=[s for s in senders if isinstance(s, str)],
            )
        tenants.append(attribution.tenant_id if attribution else None)
        rules.append(attribution.by if attribution else None)
    return pa.table(
        {"attribution_key": pa.array(keys, pa.string()), "tenant_id": pa.array(tenants, pa.string()),
         "attributed_by": pa.array(rules, pa.string())}
    )  # fmt: skip
