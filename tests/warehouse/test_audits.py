"""Build → audit → publish: a warehouse whose blocking audit fails is never published (the previous file stays,
unchanged and readable, and the failure says which audit); reported audits only report."""

from __future__ import annotations

import hashlib
from datetime import date

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from pipelines.events.ingest import ingest_events
from pipelines.generator import generate_archive
from pipelines.mail.ingest import ingest_mime
from pipelines.orchestration.resources import ArchiveResource, LakeResource, WarehouseResource
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore
from pipelines.storage.schemas import DAY_COLUMN, INBOUND, OUTBOUND
from pipelines.tenants import load_registry
from pipelines.warehouse.audits import AUDITS, AuditFailed, run_audits
from pipelines.warehouse.refresh import refresh_warehouse


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def world(tmp_path):
    bucket = tmp_path / "bucket"
    generate_archive(bucket, tenants=2, days=3, seed=9, start=date(2026, 10, 1), messages_per_day=6)
    registry = load_registry(str(bucket / "tenants.yaml"))
    lake = Lake(LocalStore(tmp_path / "lake"))
    for direction in (INBOUND, OUTBOUND):
        ingest_mime(LocalStore(bucket), lake, registry, direction, f"{direction}/", None, workers=1)
    ingest_events(LocalStore(bucket), lake, registry, "events/")
    path = tmp_path / "warehouse.duckdb"
    first = refresh_warehouse(lake, registry, path)
    assert first.audits and all(r.passed for r in first.audits if r.audit.blocking)
    return bucket, lake, registry, path


def _duplicate_some_events(lake: Lake) -> None:
    """Write one day's events a second time under another part: the same events twice in the lake."""
    events = lake.read_table("events")
    day = events["date"][0].as_py()
    rows = events.filter(pa.compute.equal(events["date"], day)).drop_columns(["tenant", "date"])
    rows = rows.append_column(DAY_COLUMN, pa.array([day] * rows.num_rows, pa.date32()))
    lake.replace_partitions("events", "copy", {day}, rows, day_column=DAY_COLUMN)


def test_a_failed_blocking_audit_leaves_the_published_warehouse(world):
    _, lake, registry, path = world
    before = _digest(path)
    _duplicate_some_events(lake)
    with pytest.raises(AuditFailed, match="events_are_unique") as failed:
        refresh_warehouse(lake, registry, path)
    failing = {r.audit.name for r in failed.value.results if not r.passed}
    assert "events_are_unique" in failing
    assert _digest(path) == before
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute("select count(*) - count(distinct fingerprint || recipient) from events").fetchone()[
            0
        ] == 0  # fmt: skip
    assert not [p for p in path.parent.iterdir() if ".building" in p.name]


def test_the_dagster_step_fails_with_the_check_and_publishes_nothing(world):
    from pipelines.definitions import defs

    bucket, lake, _, path = world
    before = _digest(path)
    _duplicate_some_events(lake)
    resources = {
        "archive": ArchiveResource(source=str(bucket)),
        "lake": LakeResource(root=str(lake.store.url)),
        "warehouse": WarehouseResource(path=str(path)),
    }
    warehouse = next(a for a in defs.assets if dg.AssetKey(["warehouse", "events"]) in a.keys)
    result = dg.materialize([warehouse], resources=resources, raise_on_error=False)
    assert not result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["events_are_unique"].passed is False and checks["events_are_unique"].metadata["duplicates"].value > 0
    assert not result.get_asset_materialization_events()
    assert _digest(path) == before


def test_reported_audits_do_not_block(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create table quarantine as select 'not_mail' as reason from range(10)")
        connection.execute("create table messages as select 1 as x from range(5)")
        connection.execute("create table events as select 1 as x from range(5)")
        share = next(a for a in AUDITS if a.name == "quarantine_share_below_threshold")
        (result,) = run_audits(connection, (share,))
    assert not result.passed and not share.blocking and result.details["quarantined"] == 10
