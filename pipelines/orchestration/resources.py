"""Dagster resources: where the archive, the lake, the warehouse and the live path are.

Every field is optional: an empty field takes its `SESLAKE_*` setting, which each resource reads through
`Settings.from_env()` when a run or a sensor tick starts (never when the code location is imported), so
the code server and the run workers always agree. A field set in code or in run config overrides it
(tests point the resources at temporary folders this way).
"""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from pipelines.handoff.ledger import HandoffLedger
from pipelines.settings import Settings
from pipelines.storage.lake import Lake
from pipelines.storage.objects import ObjectStore, open_store
from pipelines.tenants import TenantRegistry, load_registry


class SettingsResource(dg.ConfigurableResource):
    """A resource whose configuration is `Settings` with its own non-empty fields on top."""

    _settings: Settings | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._settings = self.resolve()

    def settings(self) -> Settings:
        """The settings of this run or tick (read from the environment when it started)."""
        return self._settings or self.resolve()

    def resolve(self) -> Settings:
        return Settings.from_env().overridden(**self.overrides())

    def overrides(self) -> dict[str, str]:
        raise NotImplementedError


class ArchiveResource(SettingsResource):
    """The bucket that SES, Firehose and the reply service write to (or a local folder laid out like it)."""

    source: str = ""
    """SESLAKE_SOURCE."""
    s3_endpoint_url: str = ""
    """SESLAKE_S3_ENDPOINT_URL."""
    inbound_prefix: str = ""
    """SESLAKE_INBOUND_PREFIX."""
    outbound_prefix: str = ""
    """SESLAKE_OUTBOUND_PREFIX."""
    events_prefix: str = ""
    """SESLAKE_EVENTS_PREFIX."""
    tenants: str = ""
    """SESLAKE_TENANTS."""

    def overrides(self) -> dict[str, str]:
        return {
            "source": self.source,
            "s3_endpoint_url": self.s3_endpoint_url,
            "inbound_prefix": self.inbound_prefix,
            "outbound_prefix": self.outbound_prefix,
            "events_prefix": self.events_prefix,
            "tenants": self.tenants,
        }

    def store(self) -> ObjectStore:
        settings = self.settings()
        return open_store(settings.source, settings.endpoint)

    def registry(self) -> TenantRegistry:
        settings = self.settings()
        return load_registry(settings.registry_location, settings.endpoint)


class LakeResource(SettingsResource):
    """The Parquet lake: a folder or an `s3://` prefix."""

    root: str = ""
    """SESLAKE_LAKE."""
    s3_endpoint_url: str = ""
    """SESLAKE_S3_ENDPOINT_URL."""

    def overrides(self) -> dict[str, str]:
        return {"lake": self.root, "s3_endpoint_url": self.s3_endpoint_url}

    def lake(self) -> Lake:
        settings = self.settings()
        return Lake(open_store(settings.lake, settings.endpoint))


class WarehouseResource(SettingsResource):
    """Where the published DuckDB file lives (a local path: DuckDB files stay off network storage)."""

    path: str = ""
    """SESLAKE_WAREHOUSE."""

    def overrides(self) -> dict[str, str]:
        return {"warehouse": self.path}


class HandoffResource(SettingsResource):
    """The live path: the SQS queue of SES notifications (none: watch the inbound prefix instead), the
    reply service, its signing secret, and the hand-off ledger."""

    queue_url: str = ""
    """SESLAKE_INBOUND_QUEUE_URL."""
    reply_url: str = ""
    """SESLAKE_REPLY_URL."""
    reply_secret: str = ""
    """SESLAKE_REPLY_SECRET."""
    ledger_path: str = ""
    """SESLAKE_HANDOFF_LEDGER."""
    s3_endpoint_url: str = ""
    """SESLAKE_S3_ENDPOINT_URL (also the SQS endpoint)."""

    def overrides(self) -> dict[str, str]:
        return {
            "inbound_queue_url": self.queue_url,
            "reply_url": self.reply_url,
            "reply_secret": self.reply_secret,
            "handoff_ledger": self.ledger_path,
            "s3_endpoint_url": self.s3_endpoint_url,
        }

    def ledger(self) -> HandoffLedger:
        return HandoffLedger(self.settings().handoff_ledger)

    def sqs(self) -> object:
        import boto3

        return boto3.client("sqs", endpoint_url=self.settings().endpoint)


def resource_defs() -> dict[str, dg.ConfigurableResource]:
    """The resources every definition uses, each taking its settings from the environment at run time."""
    return {
        "archive": ArchiveResource(),
        "lake": LakeResource(),
        "warehouse": WarehouseResource(),
        "handoff": HandoffResource(),
    }
