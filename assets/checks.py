"""Asset checks on the published warehouse, read-only so they never block a build or an analyst."""

import dagster as dg
import duckdb

from pipelines.orchestration.resources import WarehouseResource

from .warehouse import reporting

QUARANTINE_SHARE_LIMIT = 0.05
"""Above this share of quarantined inbound/outbound objects and event lines, someone should look."""


def _query(warehouse: WarehouseResource, sql: str) -> list[tuple]:
    with duckdb.connect(warehouse.settings().warehouse, read_only=True) as connection:
        return connection.execute(sql).fetchall()


@dg.asset_check(
    asset=reporting, description="Firehose re-deliveries were removed: one row per fingerprint × recipient."
)
def events_are_unique(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    total, distinct = _query(
        warehouse, "select count(*), count(distinct (fingerprint, coalesce(recipient, ''))) from events"
    )[0]
    return dg.AssetCheckResult(passed=total == distinct, metadata={"rows": total, "duplicates": total - distinct})


@dg.asset_check(
    asset=reporting,
    description="Every sending event's message is in the outbound archive, or counted here as an orphan.",
)
def outbound_events_have_messages(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    rows = _query(
        warehouse,
        """
        select e.tenant_id, count(distinct e.ses_message_id)
        from events e
        anti join (select ses_message_id from messages where direction = 'outbound') m using (ses_message_id)
        group by 1 order by 1
        """,
    )
    orphans = {tenant: count for tenant, count in rows}
    known = _query(warehouse, "select count(distinct ses_message_id) from events")[0][0]
    return dg.AssetCheckResult(
        passed=not orphans,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"orphan_messages_per_tenant": orphans, "messages_with_events": known},
    )


@dg.asset_check(
    asset=reporting, description=f"Quarantined share of objects and event lines is below {QUARANTINE_SHARE_LIMIT:.0%}."
)
def quarantine_share_below_threshold(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    quarantined, messages, events = _query(
        warehouse,
        "select (select count(*) from quarantine), (select count(*) from messages), (select count(*) from events)",
    )[0]
    share = quarantined / max(1, quarantined + messages + events)
    reasons = dict(_query(warehouse, "select reason, count(*) from quarantine group by 1 order by 1"))
    return dg.AssetCheckResult(
        passed=share < QUARANTINE_SHARE_LIMIT,
        metadata={"quarantined": quarantined, "share": round(share, 5), "reasons": reasons},
    )


@dg.asset_check(asset=reporting, description="No tenant is at SES's review or pause level over the trailing window.")
def tenant_reputation(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    rows = _query(warehouse, "select tenant_id, status, bounce_rate, complaint_rate from tenant_reputation")
    statuses = {tenant: status for tenant, status, _, _ in rows}
    at_risk = sorted(t for t, s in statuses.items() if s in ("review", "pause_risk"))
    return dg.AssetCheckResult(
        passed=not at_risk,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"status_per_tenant": statuses, "at_risk": ", ".join(at_risk) or "none"},
    )


defs = dg.Definitions(
    asset_checks=[events_are_unique, outbound_events_have_messages, quarantine_share_below_threshold, tenant_reputation]
)
