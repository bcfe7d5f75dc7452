"""The DuckDB warehouse: it publishes the analysts' tables, documented, and nothing else; figures equal
those computed here from the generator's ground truth (not from the same SQL); and a reader holding the
published file open is neither blocked nor disturbed by a rebuild."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from pipelines.events.ingest import ingest_events
from pipelines.mail.ingest import ingest_mime
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore
from pipelines.storage.schemas import INBOUND, OUTBOUND
from pipelines.tenants import TenantRegistry, load_registry
from pipelines.warehouse.build import build_warehouse
from pipelines.warehouse.models import load_models
from pipelines.warehouse.providers import provider_of
from pipelines.warehouse.state import BUILD_TABLE


@pytest.fixture(scope="module")
def built(small_archive, tmp_path_factory):
    registry = load_registry(str(small_archive / "tenants.yaml"))
    lake = Lake(LocalStore(tmp_path_factory.mktemp("lake")))
    store = LocalStore(small_archive)
    for direction in (INBOUND, OUTBOUND):
        ingest_mime(store, lake, registry, direction, f"{direction}/", None, workers=1)
    ingest_events(store, lake, registry, "events/")
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    build = build_warehouse(lake, registry, path)
    truth = [json.loads(line) for line in (small_archive / "_truth" / "messages.jsonl").read_text().splitlines()]
    summary = json.loads((small_archive / "_truth" / "events.jsonl").read_text().splitlines()[0])
    return build, lake, registry, truth, summary


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


ANALYST_TABLES = {
    "messages", "recipients", "attachments", "quarantine", "events", "message_threads", "thread_renames",
    "tenants", "pricing", "mailbox_providers", "reputation_thresholds", "message_engagement", "tenant_daily",
    "tenant_reputation", "suppression_candidates", "forwarding_health", "tenant_costs", "threads",
    "tenant_response_daily", "tenant_summary", "tenant_provider_daily", "tenant_feedback_daily", "tenant_hourly",
    "tenant_helpdesk_daily", "tenant_campaign_daily",
}  # fmt: skip
"""The tables analysts query by name: a rebuild keeps every one of them."""


def test_the_published_file_holds_exactly_the_models_tables(built):
    build, *_ = built
    models = load_models()
    tables = {row[0] for row in query(build.path, "select table_name from information_schema.tables")}
    assert tables - {BUILD_TABLE} == {model.name for model in models} == ANALYST_TABLES
    assert BUILD_TABLE in tables
    assert query(build.path, "select schema_name from duckdb_schemas() where not internal") == []
    assert {"thread_id", "object_key"} <= {c.name for c in next(m for m in models if m.name == "messages").columns}
    assert build.models == [model.name for model in models]
    assert set(build.row_counts) == ANALYST_TABLES and build.row_counts["tenant_daily"] > 0


def test_every_table_and_column_carries_its_documentation(built):
    """The documented columns are the built table's columns, in order, and the documentation is in the
    file for analysts (`duckdb_tables()`, `duckdb_columns()`): the docs cannot drift from the SQL."""
    build, *_ = built
    tables = dict(query(build.path, "select table_name, comment from duckdb_tables()"))
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, comment in query(
        build.path, "select table_name, column_name, comment from duckdb_columns() order by table_name, column_index"
    ):
        columns.setdefault(table, []).append((column, comment))
    for model in load_models():
        assert tables[model.name] == model.description
        assert columns[model.name] == [(c.name, c.description) for c in model.columns], model.path


def test_tenant_daily_totals_equal_the_ground_truth(built):
    build, _, _, truth, summary = built
    rows = query(
        build.path,
        "select tenant_id, sum(inbound_messages), sum(outbound_messages), sum(sent), sum(delivered), "
        "sum(hard_bounces) + sum(soft_bounces), sum(complaints), sum(rejects), sum(delivery_delays), sum(opens), "
        "sum(clicks), sum(human_opens), sum(human_clicks) from tenant_daily group by 1 order by 1",
    )
    quarantined_kinds = {"empty", "junk"}
    for tenant, inbound, outbound, sent, delivered, bounces, complaints, rejects, delays, opens, clicks, *_ in rows:
        expected = summary["by_tenant"][tenant]
        assert inbound == sum(
            1
            for m in truth
            if m["direction"] == "inbound" and m["tenant_id"] == tenant and m["kind"] not in quarantined_kinds
        )
        assert outbound == sum(1 for m in truth if m["direction"] == "outbound" and m["tenant_id"] == tenant)
        assert (sent, delivered, bounces, complaints, rejects, delays, opens, clicks) == (
            expected.get("Send", 0), expected.get("Delivery", 0), expected.get("Bounce", 0),
            expected.get("Complaint", 0), expected.get("Reject", 0), expected.get("DeliveryDelay", 0),
            expected.get("Open", 0), expected.get("Click", 0),
        )  # fmt: skip
    human_opens = sum(r[11] for r in rows)
    human_clicks = sum(r[12] for r in rows)
    assert human_opens == summary["opens_clicks_by_source"]["Open:human"]
    assert human_clicks == summary["opens_clicks_by_source"]["Click:human"]


def test_tenant_daily_equals_the_ground_truth_day_by_day(built, small_archive):
    """Every tenant × day row of tenant_daily equals counts made here from the truth files: mail by
    arrival day (the archive object's time), events by event day."""
    build, _, _, truth, _ = built
    expected: dict[tuple[str, str], Counter] = {}
    for message in truth:
        if message["direction"] == "inbound" and message["kind"] in {"empty", "junk"}:
            continue
        if message["tenant_id"] is None:
            continue
        arrival = datetime.fromtimestamp((small_archive / message["key"]).stat().st_mtime, UTC).date().isoformat()
        if message["direction"] == "inbound" and message["received_at"]:
            arrival = message["received_at"][:10]
        expected.setdefault((message["tenant_id"], arrival), Counter())[message["direction"]] += 1
        for day, counts in message.get("events_by_day", {}).items():
            expected.setdefault((message["tenant_id"], day), Counter()).update(counts)
    columns = ("inbound", "outbound", "Send", "Delivery", "Bounce", "Complaint", "Reject", "DeliveryDelay", "Open",
               "Click", "Open:human", "Click:human")  # fmt: skip
    rows = query(
        build.path,
        "select tenant_id, strftime(day, '%Y-%m-%d'), inbound_messages, outbound_messages, sent, delivered, "
        "hard_bounces + soft_bounces, complaints, rejects, delivery_delays, opens, clicks, human_opens, human_clicks "
        "from tenant_daily",
    )
    actual = {(tenant, day): dict(zip(columns, figures, strict=True)) for tenant, day, *figures in rows}
    wanted = {key: {c: counts.get(c, 0) for c in columns} for key, counts in expected.items()}
    assert len(actual) > 10
    assert actual == wanted


def expected_status(events: dict[str, int]) -> str:
    for event_type, status in (("Complaint", "complained"), ("Bounce", "bounced"), ("Reject", "rejected"),
                               ("Delivery", "delivered"), ("DeliveryDelay", "delayed")):  # fmt: skip
        if events.get(event_type):
            return status
    return "sent"


def test_message_engagement_equals_the_ground_truth(built):
    build, *_, truth, _ = built
    rows = {
        row[0]: row
        for row in query(
            build.path,
            "select ses_message_id, tenant_id, final_status, opens, clicks, recipient from message_engagement",
        )
    }
    outbound = [m for m in truth if m["direction"] == "outbound"]
    assert len(rows) == len(outbound)
    statuses = Counter()
    for message in outbound:
        ses_id, tenant, status, opens, clicks, recipient = rows[message["ses_message_id"]]
        assert tenant == message["tenant_id"]
        assert status == expected_status(message["events"]), message["ses_message_id"]
        assert (opens, clicks) == (message["events"].get("Open", 0), message["events"].get("Click", 0))
        statuses[status] += 1
    assert {"delivered", "bounced"} <= set(statuses)


def test_reputation_and_suppression_follow_the_events(built):
    build, *_ = built
    for _tenant, bounce_rate, complaint_rate, status in query(
        build.path, "select tenant_id, bounce_rate, complaint_rate, status from tenant_reputation"
    ):
        if bounce_rate >= 0.10 or complaint_rate >= 0.005:
            assert status == "pause_risk"
        elif bounce_rate >= 0.05 or complaint_rate >= 0.001:
            assert status == "review"
        else:
            assert status in ("ok", "warning")
    suppressed = query(build.path, "select count(*) from suppression_candidates")[0][0]
    hard_or_complaint = query(
        build.path,
        "select count(distinct tenant_id || recipient) from events "
        "where event_type = 'Complaint' or (event_type = 'Bounce' and bounce_type = 'Permanent')",
    )[0][0]
    assert suppressed == hard_or_complaint > 0


def test_per_provider_figures_equal_the_ground_truth(built):
    """tenant_provider_daily: every tenant × day × provider row equals counts made here from the truth (each
    outbound message's recipient, its events by day) and the provider mapping."""
    build, *_, truth, _ = built
    expected: dict[tuple[str, str, str], Counter] = {}
    for message in truth:
        if message["direction"] != "outbound":
            continue
        provider = provider_of(message["to"][0])
        for day, counts in message.get("events_by_day", {}).items():
            figures = expected.setdefault((message["tenant_id"], day, provider), Counter())
            figures.update({k: v for k, v in counts.items() if k in ("Send", "Delivery", "Bounce", "Complaint")})
            figures["unique_human_opens"] += counts.get("Open:human", 0) > 0
    rows = query(
        build.path,
        "select tenant_id, strftime(day, '%Y-%m-%d'), provider, sent, delivered, hard_bounces + soft_bounces, "
        "complaints, unique_human_opens from tenant_provider_daily",
    )
    columns = ("Send", "Delivery", "Bounce", "Complaint", "unique_human_opens")
    actual = {(t, d, p): dict(zip(columns, figures, strict=True)) for t, d, p, *figures in rows if any(figures)}
    wanted = {key: {c: counts.get(c, 0) for c in columns} for key, counts in expected.items()}
    wanted = {key: figures for key, figures in wanted.items() if any(figures.values())}
    assert {p for _, _, p in actual} >= {"Gmail", "Outlook", "Yahoo", "iCloud", "other"}
    assert actual == wanted


def test_per_campaign_figures_equal_the_ground_truth(built):
    """tenant_campaign_daily: every tenant × day × campaign row equals counts made here from the truth (the
    campaign tag each outbound message was sent with, its events by day); untagged mail has no row."""
    build, *_, truth, _ = built
    expected: dict[tuple[str, str, str], Counter] = {}
    for message in truth:
        if message["direction"] != "outbound" or message["campaign"] is None:
            continue
        for day, counts in message.get("events_by_day", {}).items():
            figures = expected.setdefault((message["tenant_id"], day, message["campaign"]), Counter())
            figures.update({k: v for k, v in counts.items() if k in ("Send", "Delivery", "Complaint", "Subscription")})
            figures["unique_human_opens"] += counts.get("Open:human", 0) > 0
            figures["unique_human_clicks"] += counts.get("Click:human", 0) > 0
    rows = query(
        build.path,
        "select tenant_id, strftime(day, '%Y-%m-%d'), campaign, sent, delivered, complaints, unsubscribes, "
        "unique_human_opens, unique_human_clicks from tenant_campaign_daily",
    )
    columns = ("Send", "Delivery", "Complaint", "Subscription", "unique_human_opens", "unique_human_clicks")
    actual = {(t, d, c): dict(zip(columns, figures, strict=True)) for t, d, c, *figures in rows}
    wanted = {key: {c: counts.get(c, 0) for c in columns} for key, counts in expected.items()}
    assert actual and sum(f["Subscription"] for f in actual.values()) > 0
    assert actual == wanted


def test_unique_human_opens_and_unsubscribes_equal_the_ground_truth(built):
    """tenant_daily's unique human opens and clicks (a message opened by a person at least once that day) and
    Subscription events, per tenant × day, from the truth; the rates are over delivered."""
    build, *_, truth, _ = built
    expected: dict[tuple[str, str], Counter] = {}
    for message in truth:
        for day, counts in message.get("events_by_day", {}).items():
            figures = expected.setdefault((message["tenant_id"], day), Counter())
            figures["unique_human_opens"] += counts.get("Open:human", 0) > 0
            figures["unique_human_clicks"] += counts.get("Click:human", 0) > 0
            figures["unsubscribes"] += counts.get("Subscription", 0)
    rows = query(
        build.path,
        "select tenant_id, strftime(day, '%Y-%m-%d'), unique_human_opens, unique_human_clicks, unsubscribes, "
        "delivered, unique_human_open_rate_of_delivered from tenant_daily",
    )
    for tenant, day, opens, clicks, unsubscribes, delivered, rate in rows:
        figures = expected.get((tenant, day), Counter())
        assert (opens, clicks, unsubscribes) == (
            figures["unique_human_opens"], figures["unique_human_clicks"], figures["unsubscribes"]
        ), (tenant, day)  # fmt: skip
        assert rate == (opens / delivered if delivered else None)
    assert sum(r[4] for r in rows) > 0 and sum(r[2] for r in rows) > 0


def test_bounce_subtypes_and_complaint_types_add_up(built):
    """tenant_feedback_daily splits every bounce and complaint of the events exactly once; suppression-list
    bounces are SES's `Suppressed` and `OnAccountSuppressionList` subtypes."""
    build, *_, summary = built
    by_kind = dict(query(build.path, "select kind, sum(events) from tenant_feedback_daily group by 1"))
    assert by_kind == {"bounce": summary["by_type"]["Bounce"], "complaint": summary["by_type"]["Complaint"]}
    flagged = query(
        build.path,
        "select bool_and(suppression_list = (subtype in ('Suppressed', 'OnAccountSuppressionList'))), "
        "count(distinct subtype) from tenant_feedback_daily where kind = 'bounce'",
    )[0]
    assert flagged[0] is True and flagged[1] >= 2


def _expected_helpdesk(messages: list[tuple], slas: dict[str, int]) -> dict[tuple, tuple]:
    """tenant_helpdesk_daily computed here, message by message, from (tenant, thread, direction, received_at)."""
    threads: dict[tuple, list] = {}
    for tenant, thread, direction, at in messages:
        threads.setdefault((tenant, thread), []).append((at, direction))
    for mail in threads.values():
        mail.sort()
    stretches: dict[str, list] = {}  # tenant -> [(waiting since, answered at or None)]
    resolved: Counter = Counter()
    resolutions: dict[tuple, list] = {}
    due: Counter = Counter()
    breached: Counter = Counter()
    last = max(at for *_, at in messages)
    for (tenant, _), mail in threads.items():
        inbound = [at for at, d in mail if d == "inbound"]
        for i, (at, direction) in enumerate(mail):
            if direction == "inbound" and (i == 0 or mail[i - 1][1] == "outbound"):
                answer = next((a for a, d in mail[i + 1 :] if d == "outbound"), None)
                stretches.setdefault(tenant, []).append((at, answer))
        if not inbound:
            continue
        first = inbound[0]
        if mail[-1][1] == "outbound":
            day = mail[-1][0].date()
            resolved[(tenant, day)] += 1
            resolutions.setdefault((tenant, day), []).append((mail[-1][0] - first).total_seconds())
        deadline = first + timedelta(seconds=slas[tenant])
        if deadline <= last:
            reply = next((a for a, d in mail if d == "outbound" and a >= first), None)
            due[(tenant, deadline.date())] += 1
            breached[(tenant, deadline.date())] += reply is None or reply > deadline
    expected = {}
    for tenant in {t for t, *_ in messages}:
        days = [at.date() for t, _, _, at in messages if t == tenant]
        day = min(days)
        while day <= max(days):
            end = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
            waits = [(end - since).total_seconds() for since, answer in stretches.get(tenant, [])
                     if since < end and (answer is None or answer >= end)]  # fmt: skip
            hours = [w / 3600 for w in waits]
            times = sorted(resolutions.get((tenant, day), []))
            median = None
            if times:
                middle = len(times) // 2
                median = times[middle] if len(times) % 2 else (times[middle - 1] + times[middle]) / 2
            expected[(tenant, day)] = (
                len(waits), sum(h < 4 for h in hours), sum(4 <= h < 24 for h in hours),
                sum(24 <= h < 72 for h in hours), sum(h >= 72 for h in hours), max(waits, default=None),
                resolved[(tenant, day)], median, due[(tenant, day)], breached[(tenant, day)],
            )  # fmt: skip
            day += timedelta(days=1)
    return expected


def test_helpdesk_figures_equal_a_count_made_message_by_message(small_warehouse):
    """Backlog at each day's end by waiting time, resolutions and first-response SLA breaches, per tenant × day,
    equal the same definitions applied here to every threaded message."""
    messages = query(small_warehouse, "select tenant_id, thread_id, direction, received_at from messages "
                                 "where thread_id is not null and received_at is not null")  # fmt: skip
    slas = dict(query(small_warehouse, "select id, first_response_sla_seconds from tenants"))
    rows = query(small_warehouse, "select * from tenant_helpdesk_daily")
    actual = {(tenant, day): tuple(figures) for tenant, day, *figures in rows}
    expected = _expected_helpdesk(messages, slas)
    assert actual.keys() == expected.keys()
    for key, figures in expected.items():
        got = actual[key]
        assert got[:5] == figures[:5] and got[6] == figures[6] and got[8:] == figures[8:], key
        for mine, theirs in ((got[5], figures[5]), (got[7], figures[7])):
            assert (mine is None and theirs is None) or abs(mine - theirs) < 1e-6, key
    assert all(sum(r[i] for r in rows) > 0 for i in (2, 6, 8, 10, 11))  # backlog, over 3 days, resolved, due, breached


def test_local_hours_follow_each_tenants_time_zone(built, tmp_path):
    """tenant_hourly buckets arrivals and human opens by the weekday and hour in the tenant's own zone."""
    build, lake, registry, *_ = built
    zones = dict(zip(sorted(registry.tenants), ["America/Sao_Paulo", "Asia/Kolkata", "UTC"], strict=False))
    zoned = TenantRegistry([replace(t, timezone=zones[t.id]) for t in registry.tenants.values()])
    path = build_warehouse(lake, zoned, tmp_path / "zoned.duckdb").path
    expected: Counter = Counter()
    for tenant, direction, at in query(path, "select tenant_id, direction, received_at from messages "
                                             "where received_at is not null"):  # fmt: skip
        local = at.astimezone(ZoneInfo(zones[tenant]))
        expected[(tenant, local.isoweekday(), local.hour, direction)] += 1
    opens = query(path, "select distinct tenant_id, ses_message_id || '|' || coalesce(recipient, ''), event_at "
                        "from events where event_type = 'Open' and agent_class = 'human'")  # fmt: skip
    seen = set()
    for tenant, delivery, at in opens:
        local = at.astimezone(ZoneInfo(zones[tenant]))
        key = (tenant, local.isoweekday(), local.hour)
        if (key, delivery) not in seen:
            seen.add((key, delivery))
            expected[(*key, "opens")] += 1
    rows = query(path, "select * from tenant_hourly")
    actual: Counter = Counter()
    for tenant, weekday, hour, inbound, outbound, opened in rows:
        for kind, count in (("inbound", inbound), ("outbound", outbound), ("opens", opened)):
            if count:
                actual[(tenant, weekday, hour, kind)] = count
    assert actual == expected and len(rows) > 24


READER = """
import sys, duckdb
connection = duckdb.connect(sys.argv[1], read_only=True)
print(connection.execute("select count(*) from message_engagement").fetchone()[0], flush=True)
sys.stdin.readline()
print(connection.execute("select count(*) from message_engagement").fetchone()[0], flush=True)
"""


def test_an_open_reader_is_not_blocked_by_a_rebuild(built):
    build, lake, registry, *_ = built
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(build.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        before = reader.stdout.readline().strip()
        rebuilt = build_warehouse(lake, registry, build.path)
        assert rebuilt.row_counts["message_engagement"] == int(before)
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == before
    finally:
        reader.communicate(timeout=30)
    assert reader.returncode == 0
    assert not list(build.path.parent.glob(".*building*"))
