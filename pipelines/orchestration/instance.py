"""The project-local Dagster instance that `seslake demo`, `seslake materialize` and `seslake ui` share, so what
the demo ran (runs, materializations, metadata, check results) is what the UI shows next."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.settings import Settings

MAX_CONCURRENT_RUNS = 4
"""Runs in progress at once; the rest wait in the daemon's queue."""
BACKFILL_RUNS = 3
"""Of those, runs of backfills (one per day for the mail assets): one slot stays free for the live hand-off and the
schedules while a long backfill drains."""


def instance_yaml(max_concurrent_runs: int = MAX_CONCURRENT_RUNS, backfill_runs: int = BACKFILL_RUNS) -> str:
    """The project instance's dagster.yaml, with these run limits.

    Runs go through the daemon's queue (`QueuedRunCoordinator`), looked at every second (Dagster's default is
    5 s; the live hand-off's latency needs it), and the runs it takes are launched side by side on threads
    (starting a run worker takes a second or two: one launch after the other would cap how many run at once).
    Dagster 1.13 takes the run limits under `concurrency: runs:` once a `concurrency:` section is present.
    Every pool (`seslake_events`, `seslake_threads`, `duckdb`: the assets that change state shared by all days)
    has one slot, held per step (`granularity: op`), so those steps run one at a time across all runs while the
    mail assets' day runs proceed side by side."""
    return f"""# The seslake project's Dagster instance (SQLite storage in this folder).
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
    dequeue_use_threads: true
    dequeue_num_workers: {max_concurrent_runs}
concurrency:
  runs:
    max_concurrent_runs: {max_concurrent_runs}
    tag_concurrency_limits:
      - key: dagster/backfill
        limit: {backfill_runs}
  pools:
    default_limit: 1
    granularity: op
"""


INSTANCE_YAML = instance_yaml()
"""Written when the folder has no dagster.yaml (an existing file is left as it is)."""


def prepare_instance_home(settings: Settings) -> Path:
    """The instance folder (`Settings.instance_home`), created with INSTANCE_YAML if it has no dagster.yaml."""
    home = settings.instance_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML, encoding="utf-8")
    return home


def project_instance(settings: Settings) -> dg.DagsterInstance:
    """The project's Dagster instance (DAGSTER_HOME when set), ready to use."""
    return dg.DagsterInstance.from_config(str(prepare_instance_home(settings)))
