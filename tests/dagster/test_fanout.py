"""Daily partitions fanned out as concurrent runs through Dagster's own run queue, over a lake on S3: the real
daemon takes a backfill of 30 days of mail (one run per day, four at a time) plus the assets that change shared
state (events, threads, the warehouse, each in its pool), and the lake and the warehouse it leaves equal, row for
row, those of one run over all the days."""

from __future__ import annotations

import os
import time
from datetime import date, timedelta

import boto3
import dagster as dg
import pytest

from pipelines.generator import generate_archive
from pipelines.orchestration.instance import instance_yaml
from pipelines.orchestration.partitions import daily_partitions
from pipelines.orchestration.resources import ArchiveResource, LakeResource, WarehouseResource
from pipelines.storage.lake import JOURNAL_PREFIX, LOG_PREFIX, STAGING_PREFIX, Lake
from pipelines.storage.objects import open_store
from pipelines.storage.schemas import SCHEMAS
from tests.dagster.compare import warehouse_rows
from tests.dagster.daemon import (
    Daemon,
    backfill_finished,
    backfill_runs,
    launch_asset_backfill,
    most_at_once,
    prepare_home,
    upload_backdated,
    wait_for,
)

START, DAYS = date(2026, 10, 1), 30
RUNS_AT_ONCE = 4
MAIL_ASSETS = {dg.AssetKey(["lake", "inbound_mail"]), dg.AssetKey(["lake", "outbound_mail"])}
VOLATILE = {"threaded_at", "renamed_at", "built_at"}
"""Columns that say when a run happened (wall-clock stamps); thread_renames' `date` is the day a rename was made."""
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
"""Each run's steps in its run worker (no step processes): 32 runs start on two cores in reasonable time."""


def batch_assets(defs: dg.Definitions) -> list[dg.AssetKey]:
    """Every asset but the live path's."""
    graph = defs.resolve_asset_graph()
    return sorted((key for key in graph.get_all_asset_keys() if key.path[0] != "live"), key=str)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory, moto_endpoint):
    from pipelines.definitions import defs

    root = tmp_path_factory.mktemp("fanout")
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    suffix = f"{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    source, lakes = f"seslake-fanout-src-{suffix}", f"seslake-fanout-lake-{suffix}"
    for bucket in (source, lakes):
        s3.create_bucket(Bucket=bucket)
    archive = root / "archive"
    generate_archive(archive, tenants=2, days=DAYS, seed=21, start=START, messages_per_day=2)
    upload_backdated(archive, source, moto_endpoint)
    days = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
    arrived = {info.day.isoformat() for prefix in ("inbound/", "outbound/")
               for info in open_store(f"s3://{source}", moto_endpoint).list(prefix)}  # fmt: skip
    assert arrived <= set(days) and len(arrived) > DAYS // 2  # the backdating took: mail on many days

    # fanned out: one backfill through the daemon's queue
    fanned = root / "fanned"
    home = prepare_home(fanned / "dagster_home", instance_yaml(RUNS_AT_ONCE, RUNS_AT_ONCE))
    env = {**os.environ, "DAGSTER_HOME": str(home), "SESLAKE_SOURCE": f"s3://{source}",
           "SESLAKE_S3_ENDPOINT_URL": moto_endpoint, "SESLAKE_LAKE": f"s3://{lakes}/fanned",
           "SESLAKE_WAREHOUSE": str(fanned / "warehouse.duckdb"),
           "SESLAKE_THREAD_STATE": str(fanned / "threads.sqlite"),
           "SESLAKE_HANDOFF_LEDGER": str(fanned / "handoff.sqlite"),
           "SESLAKE_START_DATE": daily_partitions.get_first_partition_key()}  # fmt: skip
    instance = dg.DagsterInstance.from_config(str(home))
    daemon = Daemon(env, fanned / "daemon.log")
    started = time.monotonic()
    try:
        backfill_id = launch_asset_backfill(instance, defs, batch_assets(defs), days, title="fan-out",
                                            run_config=IN_PROCESS)  # fmt: skip
        finished = wait_for(lambda: backfill_finished(instance, backfill_id), 300, interval=1)
    finally:
        daemon.stop()
    seconds = time.monotonic() - started
    assert finished, daemon.tail()
    records = backfill_runs(instance, backfill_id)
    backfill = instance.get_backfill(backfill_id)
    pools = {key: instance.event_log_storage.get_concurrency_info(key).slot_count
             for key in instance.event_log_storage.get_concurrency_keys()}  # fmt: skip

    # one run over all the days, then the rest, in this process
    single = root / "single"
    resources = {
        "archive": ArchiveResource(source=f"s3://{source}", s3_endpoint_url=moto_endpoint),
        "lake": LakeResource(root=f"s3://{lakes}/single", s3_endpoint_url=moto_endpoint),
        "warehouse": WarehouseResource(path=str(single / "warehouse.duckdb")),
    }
    partitioned = [a for a in defs.assets if a.partitions_def]
    tags = {RANGE_START: days[0], RANGE_END: days[-1]}
    assert dg.materialize(partitioned, resources=resources, tags=tags).success
    for asset in [a for a in defs.assets if not a.partitions_def and "live" not in a.group_names_by_key.values()]:
        assert dg.materialize([asset], resources=resources).success
    return {
        "records": records, "backfill": backfill, "seconds": seconds, "endpoint": moto_endpoint, "pools": pools,
        "lakes": {"fanned": f"s3://{lakes}/fanned", "single": f"s3://{lakes}/single"},
        "warehouses": {"fanned": fanned / "warehouse.duckdb", "single": single / "warehouse.duckdb"},
    }  # fmt: skip


def test_every_day_is_its_own_run_and_they_ran_side_by_side(worlds):
    records = worlds["records"]
    assert worlds["backfill"].status.value in ("COMPLETED", "COMPLETED_SUCCESS"), worlds["backfill"].status
    assert records and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
    mail = [r for r in records if set(r.dagster_run.asset_selection or ()) & MAIL_ASSETS]
    ranges = [(r.dagster_run.tags.get(RANGE_START), r.dagster_run.tags.get(RANGE_END)) for r in mail]
    assert all(first == last for first, last in ranges)
    partitions = sorted(first or "" for first, _ in ranges)
    assert partitions == [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]  # one run per day
    overlap = most_at_once(mail)
    assert 1 < overlap <= RUNS_AT_ONCE, overlap
    print(f"\n{len(records)} runs ({len(mail)} of mail days, at most {overlap} at once) in {worlds['seconds']:.1f} s")


def test_shared_state_assets_ran_once_each_holding_their_pool(worlds):
    others = [r for r in worlds["records"] if not set(r.dagster_run.asset_selection or ()) & MAIL_ASSETS]
    selected = [key for r in others for key in r.dagster_run.asset_selection or ()]
    assert dg.AssetKey(["lake", "ses_events"]) in selected and dg.AssetKey(["lake", "message_threads"]) in selected
    assert any(key.path[0] == "warehouse" for key in selected)
    assert len(selected) == len(set(selected))  # each materialized by one run
    assert worlds["pools"] == {"seslake_events": 1, "seslake_threads": 1, "duckdb": 1}  # their steps took a slot


def _rows(table, volatile: set[str]) -> list[str]:
    names = [n for n in table.column_names if n not in volatile]
    return sorted(map(repr, zip(*(table.column(n).to_pylist() for n in names), strict=True)))


def test_no_write_of_the_fanned_out_lake_was_left_half_done(worlds):
    store = open_store(worlds["lakes"]["fanned"], worlds["endpoint"])
    assert not list(store.list(JOURNAL_PREFIX)) and not list(store.list(STAGING_PREFIX))
    assert list(store.list(LOG_PREFIX))


@pytest.mark.parametrize("table", sorted(SCHEMAS))
def test_lake_tables_equal_one_run(worlds, table):
    endpoint = worlds["endpoint"]
    fanned, single = (Lake(open_store(worlds["lakes"][w], endpoint)).read_table(table) for w in ("fanned", "single"))
    assert single.num_rows > 0 or table == "thread_renames"
    volatile = VOLATILE | ({"date"} if table == "thread_renames" else set())
    assert _rows(fanned, volatile) == _rows(single, volatile)


def test_warehouse_equals_one_run(worlds):
    fanned, single = (warehouse_rows(worlds["warehouses"][w], VOLATILE) for w in ("fanned", "single"))
    assert "tenant_daily" in single
    for name, rows in single.items():
        assert fanned[name] == rows, name
