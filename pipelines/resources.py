"""Dagster resources: where the archive, the lake and the warehouse live, switched by environment.

Each field comes from its SESLAKE_* variable through `EnvVar` when that variable is set (resolved
at run time, so a deployment only needs environment variables), else from the local default.
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.lake import Lake
from pipelines.objects import ObjectStore, open_store
from pipelines.settings import ENV_DEFAULTS, tenants_location
from pipelines.tenants import TenantRegistry, load_registry


def setting(name: str) -> str | dg.EnvVar:
    """`EnvVar(name)` when the variable is set, otherwise its embedded default."""
    return dg.EnvVar(name) if os.environ.get(name) else ENV_DEFAULTS[name]


class ArchiveResource(dg.ConfigurableResource):
    """The bucket that SES, Firehose and the reply service write to (or a local copy of it)."""

    source: str
    s3_endpoint_url: str = ""
    inbound_prefix: str = "inbound/"
    outbound_prefix: str = "outbound/"
    events_prefix: str = "events/"
    tenants: str = ""

    def store(self) -> ObjectStore:
        return open_store(self.source, self.s3_endpoint_url or None)

    def registry(self) -> TenantRegistry:
        return load_registry(tenants_location(self.source, self.tenants), self.s3_endpoint_url or None)


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake: a folder or an `s3://` prefix."""

    root: str
    s3_endpoint_url: str = ""

    def lake(self) -> Lake:
        return Lake(open_store(self.root, self.s3_endpoint_url or None))


class WarehouseResource(dg.ConfigurableResource):
    """Where the published DuckDB file lives (a local path: DuckDB files stay off network storage)."""

    path: str


def resource_defs() -> dict[str, dg.ConfigurableResource]:
    return {
        "archive": ArchiveResource(
            source=setting("SESLAKE_SOURCE"),
            s3_endpoint_url=setting("SESLAKE_S3_ENDPOINT_URL"),
            inbound_prefix=setting("SESLAKE_INBOUND_PREFIX"),
            outbound_prefix=setting("SESLAKE_OUTBOUND_PREFIX"),
            events_prefix=setting("SESLAKE_EVENTS_PREFIX"),
            tenants=setting("SESLAKE_TENANTS"),
        ),
        "lake": LakeResource(root=setting("SESLAKE_LAKE"), s3_endpoint_url=setting("SESLAKE_S3_ENDPOINT_URL")),
        "warehouse": WarehouseResource(path=setting("SESLAKE_WAREHOUSE")),
    }
