"""Audits of a built warehouse, run on the new file before it is published: a blocking audit that fails stops
the publish (analysts keep the previous warehouse, and the failure says why); the others are reported only.

Each audit is one query over the models' tables returning one row: the number of failing rows (or 1 for a
failed condition) first, then named details. Every model with a key gets a uniqueness audit (UNIQUE_KEYS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

QUARANTINE_SHARE_LIMIT = 0.05
"""Above this share of quarantined inbound/outbound objects and event lines, someone should look."""

UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "messages": ("direction", "object_key"),
    "message_threads": ("direction", "object_key"),
    "tenants": ("id",),
    "mailbox_providers": ("domain",),
    "message_engagement": ("ses_message_id", "recipient"),
    "tenant_daily": ("tenant_id", "day"),
    "tenant_provider_daily": ("tenant_id", "day", "provider"),
    "tenant_feedback_daily": ("tenant_id", "day", "kind", "type", "subtype"),
    "tenant_response_daily": ("tenant_id", "day"),
    "tenant_helpdesk_daily": ("tenant_id", "day"),
    "tenant_hourly": ("tenant_id", "weekday", "hour"),
    "tenant_reputation": ("tenant_id",),
    "tenant_summary": ("tenant_id",),
    "tenant_costs": ("tenant_id", "month"),
    "forwarding_health": ("tenant_id",),
    "suppression_candidates": ("tenant_id", "recipient"),
    "threads": ("thread_id",),
}
"""Model → the columns that identify a row (nulls compare equal)."""


@dataclass(frozen=True)
class Audit:
    name: str
    model: str
    description: str
    sql: str
    blocking: bool = True
    """A failure stops the publish; otherwise it is reported (as a warning when `warn`)."""
    warn: bool = False


@dataclass
class AuditResult:
    audit: Audit
    passed: bool
    failing: int
    details: dict = field(default_factory=dict)


class AuditFailed(RuntimeError):
    """A blocking audit failed: the new warehouse was not published."""

    def __init__(self, results: list[AuditResult]) -> None:
        self.results = results
        failed = [f"{r.audit.name} ({r.failing} failing)" for r in results if not r.passed and r.audit.blocking]
        super().__init__(f"warehouse not published, blocking audits failed: {', '.join(failed)}")


def _unique(model: str, columns: tuple[str, ...]) -> Audit:
    key = ", ".join(f'"{c}"' for c in columns)
    return Audit(
        name=f"{model}_unique",
        model=model,
        description=f"One row per {', '.join(columns)}.",
        sql=f'select count(*) - count(distinct ({key})) as duplicates, count(*) as rows from "{model}"',
    )


AUDITS: tuple[Audit, ...] = (
    *(_unique(model, columns) for model, columns in UNIQUE_KEYS.items()),
    Audit(
        name="events_are_unique",
        model="events",
        description="Firehose re-deliveries were removed: one row per fingerprint × recipient.",
        sql="select count(*) - count(distinct (fingerprint, coalesce(recipient, ''))) as duplicates, "
        "count(*) as rows from events",
    ),
    Audit(
        name="tenant_rows_name_a_tenant",
        model="tenant_daily",
        description="Every per-tenant figure belongs to a tenant of the registry.",
        sql="select count(*) as unknown_tenants from tenant_daily where tenant_id not in (select id from tenants)",
        blocking=False,  # a tenant removed from the registry keeps its history
        warn=True,
    ),
    Audit(
        name="outbound_events_have_messages",
        model="events",
        description="Every sending event's message is in the outbound archive, or counted here as an orphan.",
        sql="select count(distinct e.ses_message_id) as orphan_messages, "
        "string_agg(distinct e.tenant_id, ', ') as tenants_with_orphans "
        "from events e anti join (select ses_message_id from messages where direction = 'outbound') m "
        "using (ses_message_id)",
        blocking=False,
        warn=True,
    ),
    Audit(
        name="quarantine_share_below_threshold",
        model="quarantine",
        description=f"Quarantined share of objects and event lines is below {QUARANTINE_SHARE_LIMIT:.0%}.",
        sql="with n as (select (select count(*) from quarantine) as q, (select count(*) from messages) as m, "
        "(select count(*) from events) as e) "
        f"select (q / greatest(1, q + m + e) >= {QUARANTINE_SHARE_LIMIT})::int as over_limit, q as quarantined, "
        "round(q / greatest(1, q + m + e), 5) as share from n",
        blocking=False,
    ),
    Audit(
        name="tenant_reputation",
        model="tenant_reputation",
        description="No tenant is at SES's review or pause level over the trailing window.",
        sql="select count(*) filter (where status in ('review', 'pause_risk')) as at_risk, "
        "string_agg(tenant_id || ': ' || status, ', ' order by tenant_id) as status_per_tenant "
        "from tenant_reputation",
        blocking=False,
        warn=True,
    ),
)
"""Every audit, by model."""


def run_audits(
    connection: duckdb.DuckDBPyConnection, audits: tuple[Audit, ...] = AUDITS, *, raise_on_blocking: bool = True
) -> list[AuditResult]:
    """Run `audits` on the connection's tables; raise AuditFailed (with every result) when a blocking one fails
    (unless `raise_on_blocking` is False: auditing a file already published)."""
    results = []
    for audit in audits:
        cursor = connection.execute(audit.sql)
        names = [c[0] for c in cursor.description]
        row = cursor.fetchone()
        failing = int(row[0] or 0)
        results.append(AuditResult(audit, failing == 0, failing, dict(zip(names, row, strict=True))))
    if raise_on_blocking and any(not r.passed and r.audit.blocking for r in results):
        raise AuditFailed(results)
    return results
