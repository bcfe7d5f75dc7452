"""The one place that reads seslake's configuration from the environment.

Every setting is a `SESLAKE_*` variable (plus Dagster's own `DAGSTER_HOME`); an unset or empty variable
falls back to an embedded local layout under `./data/`, so the demo and the tests run with no
configuration and production points the same code at S3. Resources, the CLI and the hand-off are all
built from a `Settings`; Dagster resources call `Settings.from_env()` when a run or a sensor tick starts,
never at import time, so the code server and the run workers cannot disagree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")

VARIABLES: dict[str, tuple[str, str]] = {
    "source": ("SESLAKE_SOURCE", str(DEFAULT_DATA_DIR / "bucket")),
    "s3_endpoint_url": ("SESLAKE_S3_ENDPOINT_URL", ""),
    "inbound_prefix": ("SESLAKE_INBOUND_PREFIX", "inbound/"),
    "outbound_prefix": ("SESLAKE_OUTBOUND_PREFIX", "outbound/"),
    "events_prefix": ("SESLAKE_EVENTS_PREFIX", "events/"),
    "tenants": ("SESLAKE_TENANTS", ""),
    "lake": ("SESLAKE_LAKE", str(DEFAULT_DATA_DIR / "lake")),
    "warehouse": ("SESLAKE_WAREHOUSE", str(DEFAULT_DATA_DIR / "warehouse.duckdb")),
    "start_date": ("SESLAKE_START_DATE", "2026-01-01"),
    "handoff_ledger": ("SESLAKE_HANDOFF_LEDGER", str(DEFAULT_DATA_DIR / "handoff.sqlite")),
    "thread_state": ("SESLAKE_THREAD_STATE", ""),
    "inbound_queue_url": ("SESLAKE_INBOUND_QUEUE_URL", ""),
    "reply_url": ("SESLAKE_REPLY_URL", "http://127.0.0.1:8025/inbound"),
    "reply_secret": ("SESLAKE_REPLY_SECRET", ""),
    "reply_proxy": ("SESLAKE_REPLY_PROXY", ""),
    "tracking_secret": ("SESLAKE_TRACKING_SECRET", ""),
    "parse_seconds": ("SESLAKE_PARSE_SECONDS", "20"),
    "parse_memory_mb": ("SESLAKE_PARSE_MEMORY_MB", "512"),
    "dagster_home": ("DAGSTER_HOME", ""),
}
"""Settings field -> (environment variable, default). '' means 'not set': the tenant registry then lives at
the top of the source, the live sensor watches the prefix instead of a queue, the hand-off refuses to
sign, and Dagster's instance is the project-local one (`Settings.instance_home`)."""


_CONVERSIONS = {"start_date": date.fromisoformat, "parse_seconds": float, "parse_memory_mb": int}


@dataclass(frozen=True)
class Settings:
    source: str = VARIABLES["source"][1]
    """The bucket: a local folder laid out like it, or `s3://bucket[/prefix]`."""
    s3_endpoint_url: str = ""
    """Another S3/SQS endpoint (a moto server in tests); '' for AWS."""
    inbound_prefix: str = VARIABLES["inbound_prefix"][1]
    outbound_prefix: str = VARIABLES["outbound_prefix"][1]
    events_prefix: str = VARIABLES["events_prefix"][1]
    tenants: str = ""
    """The tenant registry as configured ('' = `tenants.yaml` at the top of the source); see `registry_location`."""
    lake: str = VARIABLES["lake"][1]
    warehouse: str = VARIABLES["warehouse"][1]
    start_date: date = date.fromisoformat(VARIABLES["start_date"][1])
    handoff_ledger: str = VARIABLES["handoff_ledger"][1]
    """The hand-off ledger: a SQLite file on a local disk, or a `postgresql://user@host:port/db` URL
    (`pipelines.handoff.ledger`)."""
    thread_state: str = ""
    """The threading state's SQLite file, on local disk (a cache of the lake, rebuilt from it when missing);
    '' = `_state/threads.sqlite` in a local lake's folder, or a file per lake URL in the system's temporary
    folder for a lake on S3 (`pipelines.threads.lake.thread_state_path`)."""
    inbound_queue_url: str = ""
    reply_url: str = VARIABLES["reply_url"][1]
    reply_secret: str = field(default="", repr=False)
    """Comma-separated when rotating keys; kept out of repr."""
    reply_proxy: str = ""
    """An HTTP(S) proxy for the reply service; the environment's proxy and netrc settings are never used."""
    tracking_secret: str = field(default="", repr=False)
    """Key of the tracking tokens in case addresses ('' = a development key: set it in production)."""
    parse_seconds: float = float(VARIABLES["parse_seconds"][1])
    """Wall time one object may take to parse before its worker is killed and the object quarantined."""
    parse_memory_mb: int = int(VARIABLES["parse_memory_mb"][1])
    """Memory a parser worker may use before it is killed and its object quarantined."""
    dagster_home: str = ""
    """The Dagster instance's folder ('' = `instance_home`'s project-local default)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives (`os.environ` unless another mapping is passed)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, (variable, default) in VARIABLES.items():
            text = environ.get(variable) or default
            try:
                values[name] = _CONVERSIONS.get(name, str)(text)
            except ValueError as exc:
                raise ValueError(f"{variable}={text!r}: {exc}") from exc
        return cls(**values)  # type: ignore[arg-type]

    def overridden(self, **values: str) -> Settings:
        """These settings with the non-empty `values` replacing theirs (what a resource's config sets)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(unknown)}")
        changes = {name: value for name, value in values.items() if value}
        return Settings(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})

    @property
    def endpoint(self) -> str | None:
        """`s3_endpoint_url`, or None for AWS's own endpoints (what boto3 expects)."""
        return self.s3_endpoint_url or None

    @property
    def instance_home(self) -> Path:
        """The Dagster instance `seslake demo`, `materialize` and `ui` share: DAGSTER_HOME, else `dagster_home/`
        beside the warehouse (`data/dagster_home` by default), as an absolute path (what Dagster requires)."""
        home = Path(self.dagster_home) if self.dagster_home else Path(self.warehouse).parent / "dagster_home"
        return home.resolve()

    def environment(self, **variables: str) -> dict[str, str]:
        """This process's environment with `variables` set: what a command started from seslake runs with."""
        return {**os.environ, **variables}

    @property
    def registry_location(self) -> str:
        """Where the tenant registry is read: SESLAKE_TENANTS, else `tenants.yaml` at the top of the source."""
        return self.tenants or self.source.rstrip("/") + "/tenants.yaml"
