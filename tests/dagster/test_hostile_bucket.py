"""A bucket of ordinary mail salted with one object of every hostile family (and hostile Firehose files):
every asset materializes, every good message lands exactly as without the salt, and every hostile object is
in `messages` or `quarantine` exactly once."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime

import dagster as dg
import pytest

from pipelines.generator import generate_archive
from pipelines.generator.salted import salt_archive
from pipelines.orchestration.resources import ArchiveResource, LakeResource, WarehouseResource
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore

WHEN = datetime(2026, 10, 2, 11, 30, tzinfo=UTC)


def _materialize(bucket, root) -> Lake:
    from pipelines.definitions import defs

    resources = {
        "archive": ArchiveResource(source=str(bucket)),
        "lake": LakeResource(root=str(root / "lake")),
        "warehouse": WarehouseResource(path=str(root / "warehouse.duckdb")),
    }
    tags = {"dagster/asset_partition_range_start": "2026-10-01", "dagster/asset_partition_range_end": "2026-10-03"}
    assert dg.materialize([a for a in defs.assets if a.partitions_def], resources=resources, tags=tags).success
    others = [a for a in defs.assets if not a.partitions_def and "live" not in a.group_names_by_key.values()]
    assert dg.materialize(others, resources=resources).success
    return Lake(LocalStore(root / "lake"))


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    clean = root / "clean" / "bucket"
    generate_archive(clean, tenants=2, days=2, seed=5, start=date(2026, 10, 1), messages_per_day=6)
    salted = root / "salted" / "bucket"
    shutil.copytree(clean, salted, copy_function=shutil.copy2)
    recipient = next(p for p in (clean / "tenants.yaml").read_text().split() if "@ses." in p).strip("[],")
    salt = salt_archive(salted, size=64_000, when=WHEN, recipient=recipient, bomb_bytes=8_000_000)
    return _materialize(clean, root / "clean"), _materialize(salted, root / "salted"), salt


def _by_key(lake: Lake, table: str, key: str) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for row in lake.read_table(table).to_pylist():
        rows.setdefault(row[key], []).append(row)
    return rows


def test_every_good_message_lands_as_without_the_salt(lakes):
    clean, salted, salt = lakes
    hostile = set(salt.mail.values())
    clean_messages = _by_key(clean, "messages", "object_key")
    salted_messages = {k: v for k, v in _by_key(salted, "messages", "object_key").items() if k not in hostile}
    assert clean_messages and salted_messages.keys() == clean_messages.keys()
    for key, rows in clean_messages.items():
        assert [{**r, "date": None} for r in rows] == [{**r, "date": None} for r in salted_messages[key]]


def test_every_hostile_object_is_in_messages_or_quarantine_once(lakes):
    _, salted, salt = lakes
    messages = _by_key(salted, "messages", "object_key")
    quarantined = _by_key(salted, "quarantine", "source_key")
    for family, key in salt.mail.items():
        placed = len(messages.get(key, [])) + len(quarantined.get(key, []))
        assert placed == 1, f"{family}: {placed} rows"
    for rows in messages.values():
        for row in rows:
            for value in (row["subject"], row["text_body"], row["from_name"]):
                value.encode("utf-8")  # raises on a lone surrogate: every stored string is valid UTF-8


def test_hostile_event_files_are_quarantined_and_good_events_kept(lakes):
    clean, salted, salt = lakes
    clean_events = {(r["fingerprint"], r["recipient"]) for r in clean.read_table("events").to_pylist()}
    salted_events = {(r["fingerprint"], r["recipient"]) for r in salted.read_table("events").to_pylist()}
    assert clean_events and clean_events <= salted_events
    reasons = {}
    for row in salted.read_table("quarantine").to_pylist():
        reasons.setdefault(row["source_key"], set()).add(row["reason"])
    assert "bad_compression" in reasons[salt.events["corrupt_gzip"]]
    assert "truncated_compression" in reasons[salt.events["truncated_gzip"]]
    kept = {r["source_key"] for r in salted.read_table("quarantine").to_pylist() if r["reason"] == "unattributed"}
    assert salt.events["truncated_gzip"] in kept  # its lines before the break were read (and are not ours)
    assert "line_too_long" in reasons[salt.events["gzip_bomb"]]
    assert "line_too_long" in reasons[salt.events["enormous_line"]]
    assert {"not_utf8", "bad_json"} <= reasons[salt.events["hostile_lines"]]
