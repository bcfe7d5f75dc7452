"""MIME ingest over a generated archive: counts reconcile, decoding is exact, nothing is lost,
re-runs are idempotent, and the same holds against a real moto S3 server."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from pipelines.mail.ingest import ingest_mime
from pipelines.storage import objects
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore, S3Store
from pipelines.storage.schemas import INBOUND, OUTBOUND
from pipelines.tenants import load_registry
from tests.conftest import upload_folder


def truth(archive: Path) -> dict[str, dict]:
    lines = (archive / "_truth" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["key"]: row for row in map(json.loads, lines)}


def ingest_both(store, lake: Lake, registry, workers: int | None = None) -> dict:
    return {
        direction: ingest_mime(store, lake, registry, direction, f"{direction}/", None, workers=workers)
        for direction in (INBOUND, OUTBOUND)
    }


@pytest.fixture(scope="module")
def ingested(small_archive, tmp_path_factory):
    lake = Lake(LocalStore(tmp_path_factory.mktemp("lake")))
    registry = load_registry(str(small_archive / "tenants.yaml"))
    results = ingest_both(LocalStore(small_archive), lake, registry, workers=2)
    return results, lake


def rows_by_key(lake: Lake, table: str, key_column: str) -> dict[str, dict]:
    rows = lake.read_table(table).to_pylist()
    keys = Counter(row[key_column] for row in rows)
    assert max(keys.values(), default=1) == 1, "an object appears twice"
    return {row[key_column]: row for row in rows}


def test_every_object_lands_in_exactly_one_table(ingested, small_archive):
    results, lake = ingested
    messages = rows_by_key(lake, "messages", "object_key")
    quarantine = rows_by_key(lake, "quarantine", "source_key")
    for direction in (INBOUND, OUTBOUND):
        keys = {o.key for o in LocalStore(small_archive).list(f"{direction}/")}
        assert results[direction].objects == len(keys) == results[direction].messages + results[direction].quarantined
        in_messages = keys & messages.keys()
        in_quarantine = keys & quarantine.keys()
        assert not in_messages & in_quarantine
        assert in_messages | in_quarantine == keys
    assert set(truth(small_archive)) == set(messages) | set(quarantine)


def test_tenants_match_the_truth_and_unattributable_mail_is_quarantined(ingested, small_archive):
    _, lake = ingested
    messages = rows_by_key(lake, "messages", "object_key")
    quarantine = rows_by_key(lake, "quarantine", "source_key")
    unattributed = 0
    for key, expected in truth(small_archive).items():
        if key in messages:
            assert messages[key]["tenant_id"] == expected["tenant_id"], key
        elif expected["tenant_id"] is None and expected["kind"] not in ("empty", "junk"):
            assert quarantine[key]["reason"] == "unattributed", quarantine[key]
            assert quarantine[key]["stage"] == "attribute"
            unattributed += 1
    assert unattributed > 0, "the archive should contain unattributable mail"
    assert all(q["tenant"] == "_unattributed" for q in quarantine.values() if q["reason"] == "unattributed")


def test_decoded_subjects_and_bodies_are_exact(ingested, small_archive):
    _, lake = ingested
    messages = rows_by_key(lake, "messages", "object_key")
    checked_non_ascii = 0
    for key, expected in truth(small_archive).items():
        if key not in messages:
            continue
        row = messages[key]
        if expected["subject"] is not None:
            assert row["subject"] == expected["subject"], key
        if expected["body_first_line"] is not None:
            first_line = next((line.strip() for line in row["text_body"].splitlines() if line.strip()), None)
            assert first_line == expected["body_first_line"], key
        if expected["subject"] and not expected["subject"].isascii():
            checked_non_ascii += 1
    assert checked_non_ascii > 20


def test_attachments_match_the_truth(ingested, small_archive):
    _, lake = ingested
    found = Counter(
        (r["object_key"], r["filename"], r["size_bytes"], r["sha256"])
        for r in lake.read_table("attachments").to_pylist()
    )
    expected = Counter()
    messages = rows_by_key(lake, "messages", "object_key")
    for key, row in truth(small_archive).items():
        if key in messages and not row["kind"].startswith("malformed"):
            expected.update((key, a["filename"], a["size"], a["sha256"]) for a in row["attachments"])
    assert expected and expected <= found


def test_malformed_mail_is_flagged_or_quarantined_never_lost(ingested, small_archive):
    _, lake = ingested
    messages = rows_by_key(lake, "messages", "object_key")
    quarantine = rows_by_key(lake, "quarantine", "source_key")
    kinds = Counter()
    for key, expected in truth(small_archive).items():
        kind = expected["kind"]
        if kind.startswith("malformed") or kind in ("empty", "junk"):
            kinds[kind] += 1
            if key in quarantine:
                assert quarantine[key]["reason"] and quarantine[key]["error"]
            else:
                assert messages[key]["parse_warnings"], (key, kind)
        if kind in ("empty", "junk"):
            assert quarantine[key]["reason"] == {"empty": "empty_object", "junk": "not_mail"}[kind]
        if kind in ("malformed_missing_date", "malformed_bad_date"):
            assert messages[key]["date_source"] != "header"
    assert len(kinds) >= 5, kinds


def test_rerun_is_idempotent(small_archive, tmp_path):
    lake_dir = tmp_path / "lake"
    lake = Lake(LocalStore(lake_dir))
    registry = load_registry(str(small_archive / "tenants.yaml"))
    ingest_both(LocalStore(small_archive), lake, registry, workers=1)
    first = {p.relative_to(lake_dir): p.read_bytes() for p in sorted(lake_dir.rglob("*.parquet"))}
    ingest_both(LocalStore(small_archive), lake, registry, workers=2)
    second = {p.relative_to(lake_dir): p.read_bytes() for p in sorted(lake_dir.rglob("*.parquet"))}
    assert first.keys() == second.keys()
    assert first == second


def test_ingest_from_moto_s3_matches_local(small_archive, ingested, moto_endpoint, s3_bucket, monkeypatch):
    """boto3 over HTTP against a real moto server, with listing pages small enough to need many."""
    monkeypatch.setattr(objects, "LIST_PAGE_SIZE", 37)
    uploaded = upload_folder(small_archive, s3_bucket, moto_endpoint)
    store = S3Store(f"s3://{s3_bucket}", moto_endpoint)
    lake = Lake(S3Store(f"s3://{s3_bucket}/lake", moto_endpoint))
    registry = load_registry(f"s3://{s3_bucket}/tenants.yaml", moto_endpoint)
    results = ingest_both(store, lake, registry, workers=2)
    assert results[INBOUND].objects + results[OUTBOUND].objects == uploaded - 1 - sum(
        1 for _ in LocalStore(small_archive).list("events/")
    )
    local = ingested[1]
    columns = ["object_key", "tenant_id", "subject", "text_body", "rfc_message_id", "attachment_count"]
    s3_rows = sorted(lake.read_table("messages").select(columns).to_pylist(), key=lambda r: r["object_key"])
    local_rows = sorted(local.read_table("messages").select(columns).to_pylist(), key=lambda r: r["object_key"])
    assert s3_rows == local_rows
    assert lake.read_table("quarantine").num_rows == local.read_table("quarantine").num_rows


def test_an_object_that_vanishes_after_listing_is_quarantined(small_archive, moto_endpoint, s3_bucket, tmp_path):
    source = tmp_path / "src"
    keys = sorted(p for p in (small_archive / "inbound").iterdir())[:5]
    for path in keys:
        (source / "inbound").mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, source / "inbound" / path.name)
    upload_folder(source, s3_bucket, moto_endpoint)
    store = S3Store(f"s3://{s3_bucket}", moto_endpoint)

    class VanishingStore(S3Store):
        """Deletes one object right after listing, as a concurrent lifecycle rule would."""

        def list(self, prefix):
            listed = list(super().list(prefix))
            self.delete(listed[0].key)
            return iter(listed)

    vanishing = VanishingStore(store.url, moto_endpoint)
    lake = Lake(LocalStore(tmp_path / "lake"))
    registry = load_registry(str(small_archive / "tenants.yaml"))
    result = ingest_mime(vanishing, lake, registry, INBOUND, "inbound/", None, workers=1)
    assert result.objects == 5
    assert result.quarantine_reasons["read_failed"] == 1
    row = next(r for r in lake.read_table("quarantine").to_pylist() if r["reason"] == "read_failed")
    assert row["stage"] == "fetch" and "NoSuchKey" in row["error"]
