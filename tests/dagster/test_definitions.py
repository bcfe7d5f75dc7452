"""The Dagster code location loads, validates from the CLI, and materializes real partitions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.events import ses_events
from assets.mime_ingest import inbound_mail, outbound_mail
from pipelines.orchestration.resources import ArchiveResource, LakeResource
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore
from tests.conftest import PROJECT


def test_definitions_load():
    from pipelines.definitions import defs

    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for asset in defs.assets for key in asset.keys}
    assert {"lake/inbound_mail", "lake/outbound_mail", "lake/ses_events", "warehouse/tenant_daily"} <= keys
    from pipelines.warehouse.models import load_models

    models = load_models()
    assert {f"warehouse/{m.name}" for m in models} <= keys
    specs = {key.to_user_string(): spec for asset in defs.assets for key, spec in asset.specs_by_key.items()}
    daily = specs["warehouse/tenant_daily"]
    schema = daily.metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns][:2] == ["tenant_id", "day"] and schema.columns[1].type == "DATE"
    assert all(c.description for c in schema.columns)
    assert {d.asset_key.to_user_string() for d in daily.deps} == {"warehouse/messages", "warehouse/events"}
    assert {d.asset_key.to_user_string() for d in specs["warehouse/events"].deps} == {"lake/ses_events"}


def test_dagster_cli_validates_workspace(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


@pytest.fixture
def archive_copy(small_archive, tmp_path) -> Path:
    target = tmp_path / "bucket"
    shutil.copytree(small_archive, target, copy_function=shutil.copy2)
    return target


def test_partition_range_materialization_writes_lake_with_metadata(archive_copy, tmp_path):
    resources = {
        "archive": ArchiveResource(source=str(archive_copy)),
        "lake": LakeResource(root=str(tmp_path / "lake")),
    }
    keys = inbound_mail.partitions_def.get_partition_keys()
    first_day = "2026-10-01"
    tags = {"dagster/asset_partition_range_start": first_day, "dagster/asset_partition_range_end": keys[-1]}
    result = dg.materialize([inbound_mail, outbound_mail], resources=resources, tags=tags)
    assert result.success
    metadata = result.asset_materializations_for_node(inbound_mail.op.name)[0].metadata
    inbound_objects = len(list(LocalStore(archive_copy).list("inbound/")))
    assert metadata["objects"].value == inbound_objects
    assert metadata["messages"].value + metadata["quarantined"].value == inbound_objects
    assert metadata["messages"].value > 0
    assert "| tenant_id |" in metadata["preview"].value
    lake_messages = Lake(LocalStore(tmp_path / "lake")).read_table("messages").to_pylist()
    materializations = [
        m for a in (inbound_mail, outbound_mail) for m in result.asset_materializations_for_node(a.op.name)
    ]
    shown = " ".join(str(value) for m in materializations for value in m.metadata.values())
    private = {m["subject"] for m in lake_messages if len(m["subject"] or "") > 8}
    private |= {m["from_address"] for m in lake_messages if m["from_address"]}
    assert private and not any(text in shown for text in private), "metadata shows subjects or addresses"
    assert sum(metadata["messages_per_tenant"].value.values()) == metadata["messages"].value
    lake = Lake(LocalStore(tmp_path / "lake"))
    directions = set(lake.read_table("messages").column("direction").to_pylist())
    assert directions == {"inbound", "outbound"}


def test_one_day_partition_only_touches_that_day(archive_copy, tmp_path):
    resources = {
        "archive": ArchiveResource(source=str(archive_copy)),
        "lake": LakeResource(root=str(tmp_path / "lake")),
    }
    result = dg.materialize([inbound_mail], resources=resources, partition_key="2026-10-03")
    assert result.success
    dates = set(Lake(LocalStore(tmp_path / "lake")).read_table("messages").column("date").to_pylist())
    assert {d.isoformat() for d in dates} == {"2026-10-03"}


def test_events_asset_is_incremental_and_rebuilds_on_request(archive_copy, tmp_path):
    resources = {
        "archive": ArchiveResource(source=str(archive_copy)),
        "lake": LakeResource(root=str(tmp_path / "lake")),
    }

    def run(full_rebuild: bool) -> dict:
        config = {"ops": {ses_events.op.name: {"config": {"full_rebuild": full_rebuild}}}}
        result = dg.materialize([ses_events], resources=resources, run_config=config)
        assert result.success
        return result.asset_materializations_for_node(ses_events.op.name)[0].metadata

    first = run(False)
    assert first["files_read"].value == first["files_listed"].value > 0
    assert first["new_events"].value > 0 and first["bad_lines"].value > 0
    assert run(False)["files_read"].value == 0
    rebuilt = run(True)
    assert rebuilt["files_read"].value == first["files_listed"].value
    assert rebuilt["events_per_type"].value == first["events_per_type"].value


def test_schedules_pick_today_and_settle_yesterday():
    from datetime import UTC, datetime

    from pipelines.orchestration.schedules import intraday_ingest_schedule, nightly_schedule

    moment = datetime(2026, 10, 5, 2, 30, tzinfo=UTC)
    context = dg.build_schedule_context(scheduled_execution_time=moment)
    assert intraday_ingest_schedule(context).partition_key == "2026-10-05"
    nightly = nightly_schedule(context)
    assert (nightly.partition_key, nightly.run_key) == ("2026-10-04", "nightly-2026-10-04")


def test_everything_materializes_with_checks(archive_copy, tmp_path):
    from pipelines.definitions import defs
    from pipelines.orchestration.resources import WarehouseResource

    resources = {
        "archive": ArchiveResource(source=str(archive_copy)),
        "lake": LakeResource(root=str(tmp_path / "lake")),
        "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
    }
    tags = {"dagster/asset_partition_range_start": "2026-10-01", "dagster/asset_partition_range_end": "2026-10-10"}
    partitioned = [a for a in defs.assets if a.partitions_def]
    assert dg.materialize(partitioned, resources=resources, tags=tags).success
    others = [a for a in defs.assets if not a.partitions_def and "live" not in a.group_names_by_key.values()]
    batch_checks = [c for c in defs.asset_checks if all(k.asset_key.path[0] != "live" for k in c.check_keys)]
    result = dg.materialize([*others, *batch_checks], resources=resources)
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["events_are_unique"].passed
    assert checks["quarantine_share_below_threshold"].passed
    text = checks["tenant_reputation"].metadata["status_per_tenant"].value
    statuses = dict(pair.split(": ") for pair in text.split(", "))
    assert set(statuses) == {"caminos", "altamira", "casaverde"}
    assert checks["tenant_reputation"].passed == all(s in ("ok", "warning") for s in statuses.values())
    assert checks["tenant_daily_unique"].passed and checks["messages_unique"].passed
    materialized = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    daily = materialized["warehouse/tenant_daily"].materialization.metadata
    assert daily["dagster/row_count"].value > 0 and "built_at" in daily and "data_through" in daily
    summary = materialized["warehouse/tenant_summary"].materialization.metadata
    assert "caminos/unique_human_open_rate_of_delivered" in summary


def test_one_tenant_backfill_equals_a_full_run_for_that_tenant(archive_copy, tmp_path):
    """A date-range backfill tagged seslake/tenants=<id> rewrites exactly that tenant's partitions, as a
    full run writes them (stale files removed), and leaves every other file alone."""
    from pipelines.orchestration.partitions import TENANTS_TAG
    from pipelines.tenants import load_registry

    resources = {
        "archive": ArchiveResource(source=str(archive_copy)),
        "lake": LakeResource(root=str(tmp_path / "lake")),
    }
    keys = inbound_mail.partitions_def.get_partition_keys()
    full_range = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    assets = [inbound_mail, outbound_mail]
    assert dg.materialize(assets, resources=resources, tags=full_range).success
    assert dg.materialize([ses_events], resources=resources).success
    root = tmp_path / "lake"
    full = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*.parquet") if "tenant=" in str(p)}

    tenant = sorted(load_registry(str(archive_copy / "tenants.yaml")).tenants)[0]
    ours = {path for path in full if path.split("/")[1] == f"tenant={tenant}"}
    assert len(ours) > 10
    for path in ours:
        (root / path).unlink()
    stale = next(f"messages/tenant={tenant}/date={day}/outbound.parquet" for day in keys
                 if f"messages/tenant={tenant}/date={day}/outbound.parquet" not in full)  # fmt: skip
    (root / stale).parent.mkdir(parents=True, exist_ok=True)
    (root / stale).write_bytes(full[next(iter(ours))])
    others = {path: (root / path).stat().st_mtime_ns for path in full if path not in ours}

    scoped = {**full_range, TENANTS_TAG: tenant}
    assert dg.materialize(assets, resources=resources, tags=scoped).success
    assert dg.materialize([ses_events], resources=resources, tags={TENANTS_TAG: tenant}).success
    after = {str(p.relative_to(root)): p for p in root.rglob("*.parquet") if f"tenant={tenant}/" in str(p)}
    assert set(after) == ours
    assert all(after[path].read_bytes() == full[path] for path in ours)
    assert {path: (root / path).stat().st_mtime_ns for path in others} == others

    unknown = dg.materialize(assets, resources=resources, tags={**full_range, TENANTS_TAG: "nobody"},
                             raise_on_error=False)  # fmt: skip
    assert not unknown.success
