"""The project-local Dagster instance that `seslake demo`, `seslake materialize` and `seslake ui` share, so what
the demo ran (runs, materializations, metadata, check results) is what the UI shows next."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.settings import Settings

INSTANCE_YAML = """# The seslake project's Dagster instance (SQLite storage in this folder).
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""
"""Written when the folder has no dagster.yaml. The run queue is looked at every second (Dagster's default is 5 s),
which the live hand-off's latency needs."""


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
