"""Firehose event lines → `events` rows in DuckDB, many files at once.

The rules are those of `pipelines.events.normalize` (the reference, and the path for every other shape);
this is the same normalization written as one SQL statement over a batch of decompressed files, so
the JSON parsing, fingerprinting and recipient fan-out run in DuckDB's vectorized engine instead of
per line in Python. A line takes this path only when it is an event-publishing record
(`eventType` one of the ten types, a string `mail.messageId`, its detail an object or absent) whose
timestamps parse; every other line (SNS envelopes, identity notifications, bad JSON, bad required
fields) is handed back for `events.parse_lines`, which gives those their rows or reasons. Tenant
attribution and open/click classification call the same Python functions as the reference, once
per distinct input rather than once per line.
"""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa

from pipelines.events.normalize import (
    APPLE_PROXY_NETWORK,
    DETAIL_KEYS,
    EVENT_TYPES,
    LINE_WHITESPACE,
    SCANNER_AGENT_MARKERS,
    SCANNER_NETWORKS,
    TENANT_TAGS,
)
from pipelines.tenants import TenantRegistry

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
        "tags": "MAP(VARCHAR, VARCHAR[])", "commonHeaders": {"from": ["VARCHAR"]},
    },
    **{key: "JSON" for key in DETAIL_KEYS.values()},
}  # fmt: skip
"""How json_transform reads a line. Fields whose type decides whether the line is usable stay JSON
text to be checked: the message id must be a string and the event's detail an object."""
_STRUCTURE_TEXT = json.dumps(EVENT_STRUCTURE)
_DETAIL_TEXT = json.dumps(DETAIL_STRUCTURE)

_TYPE_LIST = ", ".join(f"'{t}'" for t in EVENT_TYPES)
_DETAIL_CASE = " ".join(f"when '{t}' then e.\"{k}\"" for t, k in DETAIL_KEYS.items())
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


def _in_network(number: str, network: object) -> str:
    first, last = int(network.network_address), int(network.broadcast_address)
    return f"{number} between {first} and {last}"


def agent_class_sql(event_type: str, ip: str, user_agent: str) -> str:
    """`events.classify_agent` as a SQL expression, written from the same constants."""
    agent = f"lower(coalesce({user_agent}, ''))"
    number = f"ipv4_number({ip})"
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


FAST_SQL = f"""
create or replace temp table _fast as
with parsed as materialized (
    select source_key, line_number, md5(text) as fingerprint, json_transform(text, '{_STRUCTURE_TEXT}') as e
    from _lines
    where text <> '' and json_valid(text)
), usable as (
    select *, case e.eventType {_DETAIL_CASE} end as detail
    from parsed
    where e.eventType in ({_TYPE_LIST}) and e.Type is distinct from 'Notification' and left(e.mail.messageId, 1) = '"'
), detailed as materialized (
    select *, json_transform(coalesce(detail, '{{}}'), '{_DETAIL_TEXT}') as d
    from usable
    where detail is null or left(detail, 1) = '{{'
), timed as (
    select *, try_cast(d.timestamp as timestamptz) as detail_at, try_cast(e.mail.timestamp as timestamptz) as sent_at
    from detailed
)
select
    source_key,
    line_number,
    fingerprint,
    e.eventType as event_type,
    e.mail.messageId ->> '$' as ses_message_id,
    coalesce(detail_at, sent_at) as event_at,
    sent_at,
    e.mail.tags['ses:configuration-set'][1] as configuration_set,
    e.mail.tags['ses:from-domain'][1] as from_domain,
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
        tenant_tags: [{", ".join(f"e.mail.tags['{t}'][1]" for t in TENANT_TAGS)}],
        configuration_set: e.mail.tags['ses:configuration-set'][1],
        from_domain: e.mail.tags['ses:from-domain'][1],
        "from": e.mail.commonHeaders."from",
        source: e.mail.source
    }})::varchar as attribution_key,
    {agent_class_sql("e.eventType", "d.ipAddress", "d.userAgent")} as agent_class
from timed
where (d.timestamp is null or detail_at is not null) and (e.mail.timestamp is null or sent_at is not null)
  and coalesce(detail_at, sent_at) is not null
"""
"""The batch's lines that are events of the common shape, one row per event, recipients as a list."""

LEFTOVER_SQL = """
select source_key, line_number, text from _lines
anti join _fast f using (source_key, line_number)
where text <> ''
order by source_key, line_number
"""

ROWS_SQL = """
with fanned as (select *, unnest(recipients) as rcpt from _fast)
select
    f.fingerprint, f.event_type, f.ses_message_id, a.tenant_id, a.attributed_by,
    case when f.event_type in ('Bounce', 'Complaint', 'DeliveryDelay')
         then nullif(lower(coalesce(rcpt.emailAddress, '')), '')
         else lower(rcpt.emailAddress) end as recipient,
    f.event_at, f.sent_at, f.configuration_set, f.from_domain, f.bounce_type, f.bounce_subtype,
    rcpt.diagnosticCode as diagnostic_code,
    f.complaint_feedback_type, f.delay_type, f.link, f.link_tags, f.ip, f.user_agent, f.agent_class, f.feedback_id,
    f.source_key, f.line_number::bigint as line_number, f.event_at::date as _day
from fanned f
left join _attribution a on a.attribution_key = f.attribution_key
"""
"""One row per event × recipient, in the `events` schema plus the partition day."""


def normalize_batch(
    con: duckdb.DuckDBPyConnection, lines: pa.Table, registry: TenantRegistry | None, target: str
) -> list[tuple[str, int, bytes]]:
    """Append the rows of the common-shape lines among `lines` (source_key, line_number, text) to
    table `target` (columns as ROWS_SQL); return the (key, line number, text) of the other
    non-blank lines, for the Python path."""
    con.execute("set TimeZone = 'UTC'")
    con.execute(IPV4_NUMBER_MACRO)
    con.register("_lines", lines)
    try:
        con.execute(FAST_SQL)
        leftovers = [(key, number, text.encode()) for key, number, text in con.execute(LEFTOVER_SQL).fetchall()]
    finally:
        con.unregister("_lines")
    con.register("_attribution", _attribution_table(con, registry))
    try:
        con.execute(f"insert into {target} {ROWS_SQL}").fetchall()
    finally:
        con.unregister("_attribution")
        con.execute("drop table _fast")
    return [(key, number, text) for key, number, text in leftovers if text.strip(LINE_WHITESPACE)]


def split_lines(files: list[tuple[str, bytes]]) -> tuple[pa.Table, list[str]]:
    """The lines of decompressed files as a (source_key, line_number, text) table for
    `normalize_batch`, and the keys of the files that are not UTF-8 (for the Python path, whole)."""
    keys, numbers, texts, undecoded = [], [], [], []
    for key, data in files:
        parts = data.split(b"\n")
        try:
            column = pa.array(parts, pa.binary()).cast(pa.string())
        except pa.ArrowInvalid:
            undecoded.append(key)
            continue
        texts.append(column)
        keys.append(pa.repeat(pa.scalar(key, pa.string()), len(parts)))
        numbers.append(pa.array(range(1, len(parts) + 1), pa.int64()))
    if not texts:
        empty = pa.table({"source_key": pa.array([], pa.string()), "line_number": pa.array([], pa.int64()),
                          "text": pa.array([], pa.string())})  # fmt: skip
        return empty, undecoded
    table = pa.table({"source_key": pa.concat_arrays(keys), "line_number": pa.concat_arrays(numbers),
                      "text": pa.concat_arrays(texts)})  # fmt: skip
    return table, undecoded


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
