"""The archive generator: deterministic bytes, the bucket layout, and ground truth that matches the objects."""

from __future__ import annotations

import email.policy
import gzip
import hashlib
import json
import random
import re
import time
from datetime import date
from email.parser import BytesParser
from pathlib import Path

import pytest
import yaml

from pipelines.generator import GenerationSummary, generate_archive, messages_per_day_for
from pipelines.generator.archive import SPECIAL_RATES
from pipelines.generator.events import BUFFER_MS, EVENT_TYPES, Event, plan_objects
from pipelines.threads.tracking import verify_tracking_address

INBOUND_KEY = re.compile(r"^inbound/[0-9a-z]{28,40}$")
OUTBOUND_KEY = re.compile(
    r"^outbound/([a-z0-9-]+)/(010[02][0-9a-f]{12}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
    r"[89ab][0-9a-f]{3}-[0-9a-f]{12}-000000)\.eml$"
)
EVENT_KEY = re.compile(
    r"^events/(\d{4})/(\d{2})/(\d{2})/(\d{2})/seslake-events-1-(\d{4})-(\d{2})-(\d{2})-(\d{2})"
    r"-\d{2}-\d{2}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}(\.gz)?$"
)
MALFORMED = {k for k in SPECIAL_RATES if k.startswith("malformed_")} | {"empty", "junk"}
HEADERS_ONLY = BytesParser(policy=email.policy.default)


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), int(p.stat().st_mtime))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary]:
    dest = tmp_path_factory.mktemp("month")
    summary = generate_archive(dest)
    print(f"\n3 tenants x 30 days: {summary}")
    return dest, summary


@pytest.fixture(scope="module")
def truth(month: tuple[Path, GenerationSummary]) -> list[dict]:
    return [json.loads(line) for line in (month[0] / "_truth/messages.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def events_truth(month: tuple[Path, GenerationSummary]) -> list[dict]:
    return [json.loads(line) for line in (month[0] / "_truth/events.jsonl").read_text().splitlines()]


def read_event_object(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    kw = {"tenants": 2, "days": 4, "messages_per_day": 12, "start": date(2026, 3, 27)}
    generate_archive(tmp_path / "a", seed=11, **kw)
    generate_archive(tmp_path / "b", seed=11, **kw)
    generate_archive(tmp_path / "c", seed=12, **kw)
    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert a == b
    assert a.keys() != c.keys()


def test_layout_and_mtimes(month: tuple[Path, GenerationSummary], truth: list[dict]) -> None:
    dest, summary = month
    files = [p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()]
    other = [f for f in files if not (INBOUND_KEY.match(f) or OUTBOUND_KEY.match(f) or EVENT_KEY.match(f))]
    assert sorted(other) == ["_truth/events.jsonl", "_truth/messages.jsonl", "tenants.yaml"]
    tenant_ids = {t["id"] for t in yaml.safe_load((dest / "tenants.yaml").read_text())["tenants"]}
    for f in files:
        m = OUTBOUND_KEY.match(f)
        if m:
            assert m.group(1) in tenant_ids
        m = EVENT_KEY.match(f)
        if m:
            assert m.groups()[:4] == m.groups()[4:8], f  # folder hour == object name hour
    assert summary.inbound_objects == sum(1 for f in files if f.startswith("inbound/"))
    assert summary.outbound_objects == sum(1 for f in files if f.startswith("outbound/"))
    assert summary.event_files == sum(1 for f in files if f.startswith("events/"))
    assert summary.bytes_written == sum((dest / f).stat().st_size for f in files)
    for row in truth[::7]:
        stamp = row["received_at"] if row["direction"] == "inbound" else row["date"]
        mtime = int((dest / row["key"]).stat().st_mtime)
        assert _iso(mtime) == stamp, row["key"]


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def test_tenants_registry(month: tuple[Path, GenerationSummary]) -> None:
    doc = yaml.safe_load((month[0] / "tenants.yaml").read_text())
    tenants = doc["tenants"]
    assert len(tenants) == 3
    first = tenants[0]
    assert first["id"] == "caminos" and first["name"] == "Caminos de las Sierras"
    assert first["inbound_addresses"] == ["caminos@ses.omnibrein.com"]
    assert "info@caminosdelassierras.com.ar" in first["public_addresses"]
    assert first["sending_domains"] == ["caminosdelassierras.com.ar"]
    assert first["configuration_sets"] == ["caminos-outbound"]
    assert any(t["sending_domains"][0].endswith(".com.br") for t in tenants)
    for t in tenants:
        assert set(t) == {
            "id",
            "name",
            "inbound_addresses",
            "public_addresses",
            "sending_domains",
            "configuration_sets",
        }


def test_many_tenants_are_unique(tmp_path: Path) -> None:
    generate_archive(tmp_path, tenants=50, days=1, messages_per_day=1)
    tenants = yaml.safe_load((tmp_path / "tenants.yaml").read_text())["tenants"]
    assert len({t["id"] for t in tenants}) == 50
    assert len({a for t in tenants for a in t["inbound_addresses"]}) == sum(
        len(t["inbound_addresses"]) for t in tenants
    )


def test_truth_covers_every_object_once(month: tuple[Path, GenerationSummary], truth: list[dict]) -> None:
    dest = month[0]
    keys = [r["key"] for r in truth]
    assert len(keys) == len(set(keys))
    objects = {
        p.relative_to(dest).as_posix() for d in ("inbound", "outbound") for p in (dest / d).rglob("*") if p.is_file()
    }
    assert set(keys) == objects
    for r in truth:
        assert r["size"] == (dest / r["key"]).stat().st_size
        if r["direction"] == "outbound":
            assert r["key"].endswith(f"/{r['ses_message_id']}.eml")
        else:
            assert r["key"] == f"inbound/{r['ses_message_id']}"


def test_every_kind_appears(truth: list[dict]) -> None:
    kinds = {r["kind"] for r in truth}
    expected = set(SPECIAL_RATES) | {
        "plain",
        "reply",
        "outlook_reply",
        "forwarded",
        "html_only",
        "attachment",
        "survey",
    }
    assert expected <= kinds
    traits = {t for r in truth for t in r["traits"]}
    assert {
        "no_references",
        "no_in_reply_to",
        "thread_index",
        "case_address",
        "inline_image",
        "rfc822",
        "inline_forward",
        "charset:iso-8859-1",
        "charset:windows-1252",
        "charset:utf-8",
        "cte:base64",
        "cte:8bit",
        "cte:quoted-printable",
        "attribution:tag",
        "attribution:configuration_set",
        "attribution:from_domain",
        "region:eu-west-1",
        "presend_message_id",
        "ses_message_id_header",
    } <= traits
    inbound = [r for r in truth if r["direction"] == "inbound"]
    for kind, share in (("virus", 0.005), ("spam", 0.01), ("unattributable", 0.005)):
        n = sum(r["kind"] == kind for r in inbound)
        assert 0.3 * share * len(inbound) <= n <= 3 * share * len(inbound), kind
    malformed = sum(r["kind"] in MALFORMED for r in inbound)
    assert 0.008 * len(inbound) <= malformed <= 0.03 * len(inbound)


def test_ses_prepended_block(month: tuple[Path, GenerationSummary], truth: list[dict]) -> None:
    dest = month[0]
    for r in truth:
        if r["direction"] != "inbound" or r["kind"] in ("empty", "junk"):
            continue
        raw = (dest / r["key"]).read_bytes()
        head = raw[: raw.index(b"\r\n\r\n")]
        assert b"\n" not in head.replace(b"\r\n", b""), r["key"]
        assert head.startswith(b"Return-Path: <")
        received = head.split(b"\r\nX-SES-", 1)[0].split(b"Received: ", 1)[1].decode()
        assert f"by inbound-smtp.us-east-1.amazonaws.com with SMTP id {r['ses_message_id']}" in received
        assert f"for {r['envelope_recipient']};" in received
        assert f"X-SES-Spam-Verdict: {r['spam_verdict']}".encode() in head
        assert f"X-SES-Virus-Verdict: {r['virus_verdict']}".encode() in head
        assert b"Authentication-Results: amazonses.com;" in head and b"X-SES-RECEIPT: " in head


def test_attribution_ground_truth(month: tuple[Path, GenerationSummary], truth: list[dict]) -> None:
    tenants = yaml.safe_load((month[0] / "tenants.yaml").read_text())["tenants"]
    inbound_of = {a: t["id"] for t in tenants for a in t["inbound_addresses"]}
    public = {a for t in tenants for a in t["public_addresses"]}
    for r in truth:
        if r["direction"] != "inbound" or r["kind"] in ("empty", "junk"):
            continue
        rcpt = r["envelope_recipient"]
        plain_rcpt = re.sub(r"\+case-[^@]+@", "@", rcpt)
        if r["kind"] == "unattributable":
            assert r["tenant_id"] is None and plain_rcpt not in inbound_of
            assert not set(r["to"]) & public
        else:
            assert inbound_of[plain_rcpt] == r["tenant_id"], r["key"]
            if "case_address" not in r["traits"] and r["kind"] != "malformed_huge_header":
                assert set(r["to"]) & public, r["key"]
    outbound = [r for r in truth if r["direction"] == "outbound"]
    assert {r["attribution"] for r in outbound} == {"tag", "configuration_set", "from_domain"}


def test_non_ascii_subjects_decode_exactly(month: tuple[Path, GenerationSummary], truth: list[dict]) -> None:
    dest = month[0]
    rows = [r for r in truth if "rfc2047_subject" in r["traits"] and r["kind"] not in MALFORMED]
    assert len(rows) > 300
    for r in rows:
        msg = HEADERS_ONLY.parsebytes((dest / r["key"]).read_bytes(), headersonly=True)
        assert str(msg["subject"]) == r["subject"], r["key"]
    outbound = [r for r in truth if r["direction"] == "outbound" and not r["subject"].isascii()][:100]
    for r in outbound:
        msg = HEADERS_ONLY.parsebytes((dest / r["key"]).read_bytes(), headersonly=True)
        assert str(msg["subject"]) == r["subject"], r["key"]


def test_bodies_and_attachments_decode_exactly(month: tuple[Path, GenerationSummary], truth: list[dict]) -> None:
    dest = month[0]
    skip = MALFORMED | {"spam"}
    charsets: set[str] = set()
    rows = [r for r in truth if r["kind"] not in skip and ("non_ascii_body" in r["traits"] or r["attachments"])]
    for r in rows[::6]:
        msg = email.message_from_bytes((dest / r["key"]).read_bytes(), policy=email.policy.default)
        if r["body_first_line"] is not None:
            body = msg.get_body(preferencelist=("plain",))
            first = next(line.strip() for line in body.get_content().splitlines() if line.strip())
            assert first == r["body_first_line"], r["key"]
            charsets.add(body.get_content_charset())
        got = []
        for part in msg.walk():
            if (
                part.get_content_disposition() in ("attachment", "inline")
                and part.get_content_type() != "message/rfc822"
            ):
                data = part.get_payload(decode=True)
                got.append((part.get_filename(), len(data), hashlib.sha256(data).hexdigest()))
        want = [
            (a["filename"], a["size"], a["sha256"]) for a in r["attachments"] if a["content_type"] != "message/rfc822"
        ]
        assert got == want, r["key"]
    assert {"utf-8", "iso-8859-1", "windows-1252"} <= charsets


def test_threads_link_replies_to_ses_ids(truth: list[dict]) -> None:
    wire = {r["wire_message_id"]: r for r in truth if r["direction"] == "outbound"}
    by_id = {r["message_id"]: r for r in truth if r["message_id"]}
    replies_to_outbound = 0
    for r in truth:
        if r["direction"] == "inbound" and r["in_reply_to"] in wire:
            replies_to_outbound += 1
            assert wire[r["in_reply_to"]]["thread"] == r["thread"]
            assert wire[r["in_reply_to"]]["tenant_id"] == r["tenant_id"]
        if r["direction"] == "outbound" and r["in_reply_to"]:
            assert by_id[r["in_reply_to"]]["thread"] == r["thread"]
    assert replies_to_outbound > 100
    threads_by_tenant: dict[str, set[str | None]] = {}
    for r in truth:
        if r["thread"]:
            threads_by_tenant.setdefault(r["thread"], set()).add(r["tenant_id"])
    assert all(len(v) == 1 for v in threads_by_tenant.values())  # a conversation never spans tenants


def test_case_addresses_are_keyed_with_the_tracking_secret(truth: list[dict], tmp_path: Path) -> None:
    """Agents' Reply-To case addresses verify for their tenant with the archive's tracking secret (the
    development key by default), one case per conversation, and customers writing to them reach the case."""
    answers = [r for r in truth if r["direction"] == "outbound" and r["reply_to"]]
    assert len(answers) > 50
    cases: dict[str, set[str]] = {}
    for r in answers:
        case = verify_tracking_address(r["reply_to"], r["tenant_id"], secret="")
        assert case is not None, r["reply_to"]
        cases.setdefault(r["thread"], set()).add(case)
    assert all(len(found) == 1 for found in cases.values())
    case_of = {r["reply_to"]: r["thread"] for r in answers}
    written = [r for r in truth if r["direction"] == "inbound" and "case_address" in r["traits"]]
    assert written and all(case_of[r["envelope_recipient"]] == r["thread"] for r in written)

    generate_archive(tmp_path, tenants=2, days=4, seed=11, messages_per_day=12, tracking_secret="demo, old")
    rows = [json.loads(line) for line in (tmp_path / "_truth/messages.jsonl").read_text().splitlines()]
    keyed = [r for r in rows if r["direction"] == "outbound" and r["reply_to"]]
    assert keyed
    for r in keyed:
        assert verify_tracking_address(r["reply_to"], r["tenant_id"], secret="demo") is not None
        assert verify_tracking_address(r["reply_to"], r["tenant_id"], secret="") is None


def test_event_objects(month: tuple[Path, GenerationSummary], truth: list[dict], events_truth: list[dict]) -> None:
    dest, summary = month
    outbound_ids = {r["ses_message_id"] for r in truth if r["direction"] == "outbound"}
    bad = {(r["key"], r["line"]) for r in events_truth if r["record"] == "bad_line"}
    assert bad
    seen_types: dict[str, int] = {}
    lines_by_key: dict[str, list[bytes]] = {}
    gz = 0
    for path in sorted((dest / "events").rglob("*")):
        if not path.is_file():
            continue
        key = path.relative_to(dest).as_posix()
        data = read_event_object(path)
        gz += key.endswith(".gz")
        assert data.endswith(b"\n")
        lines = data[:-1].split(b"\n")
        lines_by_key[key] = lines
        for n, line in enumerate(lines, start=1):
            if not line or (key, n) in bad:
                continue
            rec = json.loads(line)
            assert rec["eventType"] in EVENT_TYPES
            assert rec["mail"]["messageId"] in outbound_ids
            seen_types[rec["eventType"]] = seen_types.get(rec["eventType"], 0) + 1
    assert set(seen_types) == set(EVENT_TYPES)
    assert 0.15 < gz / summary.event_files < 0.35
    for key, n in bad:
        line = lines_by_key[key][n - 1]
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        assert rec["eventType"] not in EVENT_TYPES
    dups = [r for r in events_truth if r["record"] == "duplicate"]
    assert dups
    for d in dups:
        assert lines_by_key[d["key"]][d["line"] - 1] == lines_by_key[d["original_key"]][d["original_line"] - 1]
    summary_rec = events_truth[0]
    assert summary_rec["record"] == "summary" and summary_rec["late_files"] >= 2
    assert summary_rec["by_type"] == {
        t: seen_types[t] - sum(1 for d in dups if _type_of(lines_by_key, d) == t) for t in sorted(seen_types)
    }
    late = [r for r in events_truth if r["record"] == "late_file"]
    assert late and all(r["key_time"] > r["last_event_at"] for r in late)
    counts: dict[str, int] = {}
    for r in truth:
        for t, n in (r.get("events") or {}).items():
            counts[t] = counts.get(t, 0) + n
    assert counts == summary_rec["by_type"]


def _type_of(lines_by_key: dict[str, list[bytes]], dup: dict) -> str:
    return json.loads(lines_by_key[dup["key"]][dup["line"] - 1])["eventType"]


def test_machine_opens_and_scanner_clicks(events_truth: list[dict]) -> None:
    sources = events_truth[0]["opens_clicks_by_source"]
    for k in ("Open:apple_mpp", "Open:gmail_proxy", "Open:human", "Click:human", "Click:scanner"):
        assert sources.get(k, 0) > 0, k


def test_messages_per_day_for() -> None:
    assert messages_per_day_for(100_000, 3, 30) == 1111
    assert messages_per_day_for(10, 50, 30) == 1
    assert messages_per_day_for(2700, 3, 30) == 30


def test_inbound_volume_follows_messages_per_day(tmp_path: Path) -> None:
    s = generate_archive(tmp_path, tenants=2, days=3, messages_per_day=10, seed=3)
    assert s.inbound_objects == 2 * 3 * 10


def test_firehose_layout_at_volume() -> None:
    """Every duplicate repeats one earlier event exactly once; bad lines are few; buffering keeps order."""
    rng = random.Random(5)
    events = [Event(i * 700, i, 0, "Open", b"{}", True) for i in range(200_000)]
    starts, files = plan_objects(events, rng)
    seen: set[int] = set()
    duplicated: set[int] = set()
    for slots in files:
        for slot in slots:
            if slot.kind == "event":
                seen.add(slot.event)
            elif slot.kind == "duplicate":
                assert slot.event in seen and slot.event not in duplicated
                duplicated.add(slot.event)
    assert len(seen) == len(events)
    assert 0.01 < len(duplicated) / len(events) < 0.02
    assert sum(s.kind == "bad" for f in files for s in f) == round(len(events) / 1500)
    assert all(b - a >= BUFFER_MS for a, b in zip(starts, starts[1:], strict=False))
