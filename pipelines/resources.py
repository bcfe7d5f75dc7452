"""Dagster resources: where the archive, the lake and the warehouse live, switched by environment.

Each field comes from its SESLAKE_* variable through `EnvVar` when that variable is set (resolved
at run time, so a deployment only needs environment variables), else from the local default.
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.handoff_ledger import HandoffLedger
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


class HandoffResource(dg.ConfigurableResource):
    """The live path: the SQS queue of SES notifications (empty: watch the inbound prefix instead), the
    reply service, its signing secret, and the hand-off ledger (a local SQLite file)."""

    queue_url: str = ""
    reply_url: str
    reply_secret: str = ""
    ledger_path: str
    s3_endpoint_url: str = ""

    def ledger(self) -> HandoffLedger:
        return HandoffLedger(self.ledger_path)

    def sqs(self) -> object:
        import boto3

        return boto3.client("sqs", endpoint_url=self.s3_endpoint_url or None)


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
        "handoff": HandoffResource(
            queue_url=setting("SESLAKE_INBOUND_QUEUE_URL"),
            reply_url=setting("SESLAKE_REPLY_URL"),
            reply_secret=setting("SESLAKE_REPLY_SECRET"),
            ledger_path=setting("SESLAKE_HANDOFF_LEDGER"),
            s3_endpoint_url=setting("SESLAKE_S3_ENDPOINT_URL"),
        ),
    }
