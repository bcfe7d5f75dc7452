"""Settings: every SESLAKE_* variable with its default, and resources that read them when a run starts."""

from __future__ import annotations

import shutil
from datetime import date

import dagster as dg

from pipelines.settings import VARIABLES, Settings


def test_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings.source == "data/bucket" and settings.lake == "data/lake"
    assert settings.registry_location == "data/bucket/tenants.yaml"
    assert settings.start_date == date(2026, 1, 1)
    assert settings.endpoint is None and settings.inbound_queue_url == "" and settings.dagster_home == ""


def test_every_variable_is_read_and_empty_means_unset():
    environ = {variable: "" for variable, _ in VARIABLES.values()}
    assert Settings.from_env(environ) == Settings.from_env({})
    environ = {
        "SESLAKE_SOURCE": "s3://archive/mail",
        "SESLAKE_TENANTS": "s3://config/tenants.yaml",
        "SESLAKE_START_DATE": "2026-03-01",
        "SESLAKE_S3_ENDPOINT_URL": "http://127.0.0.1:5000",
        "SESLAKE_REPLY_SECRET": "new,old",
    }
    settings = Settings.from_env(environ)
    assert settings.registry_location == "s3://config/tenants.yaml"
    assert settings.start_date == date(2026, 3, 1)
    assert settings.endpoint == "http://127.0.0.1:5000"
    assert "new,old" not in repr(settings)


def test_overrides_replace_only_what_is_given():
    base = Settings.from_env({"SESLAKE_LAKE": "/lake"})
    changed = base.overridden(source="/bucket", lake="")
    assert changed.source == "/bucket" and changed.lake == "/lake"
    assert changed.registry_location == "/bucket/tenants.yaml"


def test_resources_read_the_environment_when_the_run_starts(small_archive, tmp_path, monkeypatch):
    """The code location is imported first; the variables set afterwards are the ones the run uses."""
    from pipelines.definitions import defs

    bucket, lake = tmp_path / "bucket", tmp_path / "lake"
    shutil.copytree(small_archive, bucket, copy_function=shutil.copy2)
    monkeypatch.setenv("SESLAKE_SOURCE", str(bucket))
    monkeypatch.setenv("SESLAKE_LAKE", str(lake))
    key = dg.AssetKey(["lake", "outbound_mail"])
    result = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.assets(key),
        resources=defs.resources,
        partition_key="2026-10-03",
    )
    assert result.success
    assert list(lake.glob("messages/tenant=*/date=2026-10-03/outbound.parquet"))
