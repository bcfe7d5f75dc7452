"""SES events: every sample shape normalizes correctly, generated Firehose files reconcile with the
generator's ground truth exactly (through moto S3), and incremental runs equal a full rebuild."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pipelines.events import ingest
from pipelines.events.ingest import ingest_events, write_groups
from pipelines.events.normalize import EventError, classify_agent, normalize, parse_event_file
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore, S3Store
from pipelines.tenants import load_registry, parse_registry
from tests.conftest import COMPOSED_SES, REAL_SES, upload_folder
from tests.events.both_paths import as_set, bulk, numbered_lines, reference

REGISTRY = parse_registry(
    """
tenants:
  - id: t42
    name: Tenant 42
    inbound_addresses: [t42@ses.example.com]
    sending_domains: [tenant42.example.com]
    configuration_sets: [tenant42-config]
"""
)


def sample_events() -> list[Path]:
    paths = [p for p in sorted(COMPOSED_SES.glob("*.json")) if p.stem[0].isupper()]
    for path in sorted(REAL_SES.glob("*.json")):
        document = json.loads(path.read_text())
        inner = json.loads(document["Message"]) if isinstance(document.get("Message"), str) else document
        if (inner.get("eventType") or inner.get("notificationType")) != "Received":
            paths.append(path)
    return paths


@pytest.mark.parametrize("path", sample_events(), ids=lambda p: p.name)
def test_every_sample_normalizes_to_its_type_id_recipients_and_time(path):
    document = json.loads(path.read_text())
    inner = json.loads(document["Message"]) if isinstance(document.get("Message"), str) else document
    rows = normalize(document, REGISTRY)
    expected_type = inner.get("eventType") or inner.get("notificationType")
    assert {r["event_type"] for r in rows} == {expected_type}
    assert {r["ses_message_id"] for r in rows} == {inner["mail"]["messageId"]}
    detail = next(v for k, v in inner.items() if k not in ("eventType", "notificationType", "mail"))
    listed = (
        detail.get("bouncedRecipients")
        or detail.get("complainedRecipients")
        or detail.get("delayedRecipients")
        or [{"emailAddress": r} for r in detail.get("recipients", [])]
    )
    if listed:
        assert sorted(r["recipient"] for r in rows) == sorted(e["emailAddress"].lower() for e in listed)
    elif expected_type not in ("Open", "Click"):
        assert sorted(r["recipient"] for r in rows) == sorted(d.lower() for d in inner["mail"]["destination"])
    stamp = detail.get("timestamp") or inner["mail"]["timestamp"]
    assert rows[0]["event_at"] == datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    assert all(r["event_at"].tzinfo is not None for r in rows)


def test_composed_samples_attribute_by_tenant_id_tag():
    click = json.loads((COMPOSED_SES / "Click.json").read_text())
    assert click["mail"]["tags"]["tenant_id"] == ["tenant-42"]
    assert normalize(click, REGISTRY)[0]["tenant_id"] is None  # 'tenant-42' is not in this registry
    click["mail"]["tags"]["tenant_id"] = ["t42"]
    assert (normalize(click, REGISTRY)[0]["tenant_id"], normalize(click, REGISTRY)[0]["attributed_by"]) == (
        "t42",
        "message_tag",
    )
    click["mail"]["tags"] = {"ses:configuration-set": ["Tenant42-Config"]}
    assert normalize(click, REGISTRY)[0]["attributed_by"] == "configuration_set"


def test_bad_records_get_reasons():
    with pytest.raises(EventError) as error:
        normalize({"eventType": "Teleport", "mail": {"messageId": "x"}}, REGISTRY)
    assert error.value.reason == "unknown_event_type"
    with pytest.raises(EventError) as error:
        normalize({"eventType": "Send", "mail": {}}, REGISTRY)
    assert error.value.reason == "bad_shape"
    open_event = (COMPOSED_SES / "Open.json").read_bytes()
    data = gzip.compress(b"\n" + open_event.replace(b"\n", b"") + b'\n\n{"eventType": "Open", "ma\n')
    rows, bad = parse_event_file(data, REGISTRY)
    assert len(rows) == 1 and rows[0]["line_number"] == 2
    assert [(b.line_number, b.reason) for b in bad] == [(4, "bad_json")]


def test_two_real_opens_a_second_apart_stay_two_events():
    event = json.loads((COMPOSED_SES / "Open.json").read_text())
    later = json.loads(json.dumps(event))
    later["open"]["timestamp"] = "2025-03-01T13:00:01.000Z"
    fingerprints = {normalize(e, REGISTRY)[0]["fingerprint"] for e in (event, later, json.loads(json.dumps(event)))}
    assert len(fingerprints) == 2


@pytest.mark.parametrize(
    ("event_type", "ip", "agent", "expected"),
    [
        ("Open", "66.249.84.1", "Mozilla/5.0 (via ggpht.com GoogleImageProxy)", "gmail_proxy"),
        ("Open", "17.58.1.2", "Mozilla/5.0", "apple_proxy"),
        ("Open", "17.58.1.2", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0) Mobile/15E148", "human"),
        ("Click", "40.94.97.3", "Mozilla/5.0 (Windows NT 10.0) Chrome/124.0 Edg/124.0", "scanner"),
        ("Click", "198.51.100.7", "python-requests/2.32", "scanner"),
        ("Click", "198.51.100.7", "Mozilla/5.0 (Macintosh) Safari/605.1.15", "human"),
        ("Click", "017.58.1.2", "Mozilla/5.0", "human"),  # not an address ipaddress accepts
        ("Open", "2a01:111:f400::1", "Mozilla/5.0", "human"),
        ("Open", "148.163.130.9", None, "scanner"),
        ("Delivery", None, None, None),
    ],
)
def test_open_and_click_classification(event_type, ip, agent, expected):
    """The Python rules and the SQL expression the bulk path uses agree on every case."""
    import duckdb

    from pipelines.events.bulk import IPV4_NUMBER_MACRO, agent_class_sql

    assert classify_agent(event_type, ip, agent) == expected
    con = duckdb.connect()
    con.execute(IPV4_NUMBER_MACRO)
    expression = agent_class_sql("t", "ipv4_number(i)", "a")
    query = f"select {expression} from (select ?::varchar t, ?::varchar i, ?::varchar a)"
    assert con.execute(query, [event_type, ip, agent]).fetchall() == [(expected,)]


def truth_summary(archive: Path) -> dict:
    first = (archive / "_truth" / "events.jsonl").read_text().splitlines()[0]
    return json.loads(first)


def test_generated_firehose_files_reconcile_with_ground_truth_on_moto(
    small_archive, moto_endpoint, s3_bucket, tmp_path
):
    upload_folder(small_archive, s3_bucket, moto_endpoint)
    store = S3Store(f"s3://{s3_bucket}", moto_endpoint)
    lake = Lake(S3Store(f"s3://{s3_bucket}/lake", moto_endpoint))
    registry = load_registry(str(small_archive / "tenants.yaml"))
    result = ingest_events(store, lake, registry, "events/")
    truth = truth_summary(small_archive)
    events = lake.read_table("events").to_pylist()
    per_tenant_type: dict[str, dict[str, int]] = {}
    for row in events:
        counts = per_tenant_type.setdefault(row["tenant_id"], {})
        counts[row["event_type"]] = counts.get(row["event_type"], 0) + 1
    assert per_tenant_type == truth["by_tenant"]
    assert result.rows_duplicate == truth["duplicate_lines"]
    assert result.lines_bad == truth["bad_lines"]
    assert len({(r["fingerprint"], r["recipient"]) for r in events}) == len(events)
    assert all(r["date"] == r["event_at"].date() for r in events)
    quarantine = [q for q in lake.read_table("quarantine").to_pylist() if q["source"] == "events"]
    assert len(quarantine) == truth["bad_lines"] and all(q["line_number"] and q["source_key"] for q in quarantine)
    by_source = {}
    for row in events:
        if row["agent_class"]:
            key = f"{row['event_type']}:{row['agent_class'].replace('apple_proxy', 'apple_mpp')}"
            by_source[key] = by_source.get(key, 0) + 1
    assert by_source == truth["opens_clicks_by_source"]


def test_incremental_runs_equal_a_full_rebuild(small_archive, tmp_path):
    registry = load_registry(str(small_archive / "tenants.yaml"))
    source = LocalStore(small_archive)
    files = list(source.list("events/"))
    half = tmp_path / "half"
    for info in files[: len(files) // 2]:
        target = half / info.key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(small_archive / info.key, target)  # keeps the arrival time
    incremental = Lake(LocalStore(tmp_path / "incremental"))
    first = ingest_events(LocalStore(half), incremental, registry, "events/")
    second = ingest_events(source, incremental, registry, "events/")
    assert first.files_read + second.files_read == len(files)
    assert ingest_events(source, incremental, registry, "events/").files_read == 0

    rebuilt = Lake(LocalStore(tmp_path / "rebuilt"))
    ingest_events(source, rebuilt, registry, "events/", full_rebuild=True)
    order = [("fingerprint", "ascending"), ("recipient", "ascending")]
    assert incremental.read_table("events").sort_by(order).equals(rebuilt.read_table("events").sort_by(order))
    q_order = [("source_key", "ascending"), ("line_number", "ascending")]
    assert (
        incremental.read_table("quarantine").sort_by(q_order).equals(rebuilt.read_table("quarantine").sort_by(q_order))
    )


def test_write_groups_cut_consecutive_days_at_the_row_limit():
    """Days go together while their rows fit the limit; a day over it stands alone; a day without
    rows still belongs to a group (its partitions are emptied)."""
    rows = {date(2026, 10, day): count for day, count in [(5, 10), (1, 30), (2, 30), (3, 0), (4, 80)]}
    assert write_groups(rows, 60) == [
        [date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)],
        [date(2026, 10, 4)],
        [date(2026, 10, 5)],
    ]
    assert write_groups({}, 60) == []


def test_writing_a_few_rows_at_a_time_gives_the_same_lake(small_archive, tmp_path, monkeypatch):
    """Written in many small groups of days, the lake holds the same events and quarantine as when
    written in few large ones."""
    registry = load_registry(str(small_archive / "tenants.yaml"))
    whole = Lake(LocalStore(tmp_path / "whole"))
    ingest_events(LocalStore(small_archive), whole, registry, "events/")
    monkeypatch.setattr(ingest, "ROWS_PER_WRITE", 50)
    pieces = Lake(LocalStore(tmp_path / "pieces"))
    written: list[list[date]] = []
    replace = pieces.replace_partitions

    def recording(table: str, part: str, days: list[date], *args, **kwargs) -> None:
        if table == "events":
            written.append(list(days))
        replace(table, part, days, *args, **kwargs)

    monkeypatch.setattr(pieces, "replace_partitions", recording)
    result = ingest_events(LocalStore(small_archive), pieces, registry, "events/")
    per_day = Counter(date.fromisoformat(str(day)) for day in whole.read_table("events").column("date").to_pylist())
    assert written == write_groups({day: per_day[day] for day in result.days}, 50)
    assert len(written) > 1
    for table, order in (("events", ["fingerprint", "recipient"]), ("quarantine", ["source_key", "line_number"])):
        sort = [(column, "ascending") for column in order]
        assert pieces.read_table(table).sort_by(sort).equals(whole.read_table(table).sort_by(sort))


def test_sns_wrapped_and_identity_notification_records_in_firehose_files(small_archive, tmp_path):
    """An SNS-wrapped copy of a delivered line is the same event; an identity notification (no tags)
    is a new event attributed through its From domain."""
    registry = load_registry(str(small_archive / "tenants.yaml"))
    source = tmp_path / "bucket"
    shutil.copytree(small_archive / "events", source / "events", copy_function=shutil.copy2)
    baseline = ingest_events(LocalStore(source), Lake(LocalStore(tmp_path / "before")), registry, "events/")

    first_file = next(p for p in sorted((source / "events").rglob("*")) if p.is_file() and p.suffix != ".gz")
    line = next(line for line in first_file.read_text().splitlines() if '"eventType":"Delivery"' in line)
    event = json.loads(line)
    wrapped = {"Type": "Notification", "MessageId": "m-1", "Message": line}
    identity = {
        "notificationType": "Bounce",
        "mail": {key: value for key, value in event["mail"].items() if key != "tags"},
        "bounce": {
            "bounceType": "Permanent", "bounceSubType": "General", "timestamp": event["delivery"]["timestamp"],
            "bouncedRecipients": [{"emailAddress": event["mail"]["destination"][0], "diagnosticCode": "smtp; 550"}],
        },
    }  # fmt: skip
    extra = source / "events" / "2026" / "12" / "31" / "23" / "seslake-events-1-2026-12-31-23-59-59-extra"
    extra.parent.mkdir(parents=True)
    extra.write_text(json.dumps(wrapped) + "\n\n" + json.dumps(identity) + "\n")
    lake = Lake(LocalStore(tmp_path / "after"))
    after = ingest_events(LocalStore(source), lake, registry, "events/")
    assert after.rows_duplicate == baseline.rows_duplicate + 1
    assert after.per_type["Bounce"] == baseline.per_type["Bounce"] + 1
    bounce = next(r for r in lake.read_table("events").to_pylist() if r["source_key"].endswith("-extra"))
    assert bounce["event_type"] == "Bounce" and bounce["attributed_by"] == "from_domain"
    assert bounce["tenant_id"] == event["mail"]["tags"]["tenant"][0]


def _sample_lines() -> list[bytes]:
    """Every sample event as a Firehose line, plus lines whose odd types must leave the bulk path."""
    lines = [json.dumps(json.loads(path.read_text())).encode() for path in sample_events()]
    delivery = json.loads(next(p for p in sample_events() if "Delivery" in p.name).read_text())
    odd = [
        {**delivery, "mail": {**delivery["mail"], "tags": {"tenant": "t42"}}},  # tag value not a list
        {**delivery, "delivery": {**delivery.get("delivery", {}), "timestamp": "yesterday"}},  # unparseable
        {**delivery, "delivery": {**delivery.get("delivery", {}), "recipients": "a@b.c"}},  # not a list
        {"eventType": "Bounce", "mail": {"messageId": "m", "timestamp": "2026-01-01T00:00:00Z"},
         "bounce": {"bouncedRecipients": [{"emailAddress": None}, "junk", {"emailAddress": "X@Y.Z"}]}},
        {**delivery, "mail": {**delivery["mail"], "messageId": 5}},  # required field of the wrong type
        {**delivery, "delivery": "delivered"},  # detail not an object
        {**delivery, "delivery": {"timestamp": "2026-01-01T00:00:00Z", "recipients": [7, None, "A@B.C"]}},
        {"eventType": "Open", "mail": {"messageId": "m", "timestamp": "2026-01-01T00:00:00Z", "destination": ["a@b.c"],
         "source": 12, "commonHeaders": {"from": [{"x": 1}]}},
         "open": {"ipAddress": 17, "userAgent": ["Mozilla/5.0"], "timestamp": "2026-01-01T00:00:01Z"}},
    ]  # fmt: skip
    return lines + [json.dumps(record).encode() for record in odd] + [b"  ", b"{truncated", b"[1, 2]"]


def test_bulk_sql_path_gives_the_reference_rows(small_archive):
    """The DuckDB path and the Python reference normalizer give identical rows for every line of the
    generated archive and of the samples; the DuckDB path takes the common shape, the rest falls back."""
    registry = load_registry(str(small_archive / "tenants.yaml"))
    paths = [p for p in sorted((small_archive / "events").rglob("*")) if p.is_file()]
    files = {str(p.relative_to(small_archive)): numbered_lines(p.read_bytes())[0] for p in paths}
    files["samples"] = numbered_lines(b"\n".join(_sample_lines()))[0]
    files["latin-1"] = numbered_lines("é".encode("latin-1") + b"\n" + _sample_lines()[0])[0]

    expected, _ = reference(files, registry)
    rows, leftovers = bulk(files, registry)
    fallback, _ = reference({key: [(n, line) for k, n, line in leftovers if k == key] for key in files}, registry)

    assert len(rows) > 0.95 * len(expected)
    assert as_set(rows + fallback) == as_set(expected)
    assert len(rows) + len(fallback) == len(expected)
    left_for_python = {line for key, _, line in leftovers if key in ("samples", "latin-1")}
    wrong_id_type = next(line for line in _sample_lines() if b'"messageId": 5' in line)
    assert {b"{truncated", b"[1, 2]", wrong_id_type, "é".encode("latin-1")} <= left_for_python
    assert b"  " not in left_for_python  # blank lines are skipped, not handed to the reference
