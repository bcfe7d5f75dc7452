"""Where seslake reads and writes, from SESLAKE_* environment variables with local defaults.

Unset variables fall back to an embedded local layout under `./data/`, so the demo and the
tests run with no configuration; production points the same code at S3.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")

ENV_DEFAULTS: dict[str, str] = {
    "SESLAKE_SOURCE": str(DEFAULT_DATA_DIR / "bucket"),
    "SESLAKE_S3_ENDPOINT_URL": "",
    "SESLAKE_INBOUND_PREFIX": "inbound/",
    "SESLAKE_OUTBOUND_PREFIX": "outbound/",
    "SESLAKE_EVENTS_PREFIX": "events/",
    "SESLAKE_TENANTS": "",
    "SESLAKE_LAKE": str(DEFAULT_DATA_DIR / "lake"),
    "SESLAKE_WAREHOUSE": str(DEFAULT_DATA_DIR / "warehouse.duckdb"),
    "SESLAKE_START_DATE": "2026-01-01",
    "SESLAKE_HANDOFF_LEDGER": str(DEFAULT_DATA_DIR / "handoff.sqlite"),
    "SESLAKE_INBOUND_QUEUE_URL": "",
    "SESLAKE_REPLY_URL": "http://127.0.0.1:8025/inbound",
    "SESLAKE_REPLY_SECRET": "",
}
"""Every setting and its default; '' means 'not set' (tenants then default to the source; the hand-off
refuses to sign without a reply secret). The reply URL defaults to a local `seslake reply-stub`."""


def env_value(name: str) -> str:
    """The variable's value, or its default when unset or empty."""
    return os.environ.get(name) or ENV_DEFAULTS[name]


def tenants_location(source: str, tenants: str) -> str:
    """The registry path: SESLAKE_TENANTS when set, else `tenants.yaml` at the top of the source."""
    if tenants:
        return tenants
    return source.rstrip("/") + "/tenants.yaml"


@dataclass(frozen=True)
class Settings:
    """The resolved configuration, for code that runs outside Dagster (the CLI, benchmarks)."""

    source: str
    s3_endpoint_url: str
    inbound_prefix: str
    outbound_prefix: str
    events_prefix: str
    tenants: str
    lake: str
    warehouse: str
    start_date: date
    handoff_ledger: str = ENV_DEFAULTS["SESLAKE_HANDOFF_LEDGER"]
    reply_url: str = ENV_DEFAULTS["SESLAKE_REPLY_URL"]
    reply_secret: str = field(default="", repr=False)
    """Comma-separated when rotating keys (see `pipelines.signing`); kept out of repr."""

    @classmethod
    def from_env(cls) -> Settings:
        source = env_value("SESLAKE_SOURCE")
        return cls(
            source=source,
            s3_endpoint_url=env_value("SESLAKE_S3_ENDPOINT_URL"),
            inbound_prefix=env_value("SESLAKE_INBOUND_PREFIX"),
            outbound_prefix=env_value("SESLAKE_OUTBOUND_PREFIX"),
            events_prefix=env_value("SESLAKE_EVENTS_PREFIX"),
            tenants=tenants_location(source, env_value("SESLAKE_TENANTS")),
            lake=env_value("SESLAKE_LAKE"),
            warehouse=env_value("SESLAKE_WAREHOUSE"),
            start_date=date.fromisoformat(env_value("SESLAKE_START_DATE")),
            handoff_ledger=env_value("SESLAKE_HANDOFF_LEDGER"),
            reply_url=env_value("SESLAKE_REPLY_URL"),
            reply_secret=env_value("SESLAKE_REPLY_SECRET"),
        )
