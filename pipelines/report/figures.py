"""The report's figures, read from the published warehouse (read-only): one query per chart, over the marts.

Each function returns plain rows (lists of dicts) for one tenant, or every tenant when `tenant` is None. The
bounce and complaint lines are trailing 30-day rates per sent recipient (as SES computes them for review and
pause), from `tenant_daily`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

TRAILING_DAYS = 30
"""Window of the trailing bounce and complaint rates (SES's own reputation window is similar)."""

QUERIES = {
    "summary": "select * from tenant_summary where $tenant is null or tenant_id = $tenant order by tenant_id",
    "daily": """
        select tenant_id, day, inbound_messages, outbound_messages, sent, delivered,
               unique_opens, human_opens, unique_clicks, human_clicks,
               sum(hard_bounces) over w / nullif(sum(sent) over w, 0) as bounce_rate_trailing,
               sum(complaints) over w / nullif(sum(sent) over w, 0) as complaint_rate_trailing,
               unique_open_rate_of_delivered, unique_human_open_rate_of_delivered,
               unique_human_click_rate_of_delivered
        from tenant_daily
        where $tenant is null or tenant_id = $tenant
        window w as (partition by tenant_id order by day range between interval (TRAILING - 1) day preceding
                     and current row)
        order by tenant_id, day""",
    "providers": """
        select tenant_id, provider, sum(sent) as sent, sum(delivered) as delivered,
               sum(hard_bounces) / nullif(sum(sent), 0) as hard_bounce_rate_of_sent,
               sum(complaints) / nullif(sum(sent), 0) as complaint_rate_of_sent,
               sum(unique_human_opens) / nullif(sum(delivered), 0) as unique_human_open_rate_of_delivered
        from tenant_provider_daily
        where $tenant is null or tenant_id = $tenant
        group by all
        having sum(sent) > 0
        order by tenant_id, sent desc, provider""",
    "campaigns": """
        select tenant_id, campaign, min(day) as first_day, sum(sent) as sent, sum(delivered) as delivered,
               sum(unique_human_opens) / nullif(sum(delivered), 0) as unique_human_open_rate_of_delivered,
               sum(unique_human_clicks) / nullif(sum(delivered), 0) as unique_human_click_rate_of_delivered,
               sum(unsubscribes) as unsubscribes
        from tenant_campaign_daily
        where $tenant is null or tenant_id = $tenant
        group by all
        order by tenant_id, first_day, campaign""",
    "hourly": """
        select tenant_id, weekday, hour, inbound_messages, outbound_messages, unique_human_opens
        from tenant_hourly
        where $tenant is null or tenant_id = $tenant
        order by tenant_id, weekday, hour""",
    "response": """
        select tenant_id, day, threads_opened, threads_answered,
               median_first_response_seconds / 3600 as median_first_response_hours,
               p90_first_response_seconds / 3600 as p90_first_response_hours
        from tenant_response_daily
        where $tenant is null or tenant_id = $tenant
        order by tenant_id, day""",
    "helpdesk": """
        select tenant_id, day, backlog, waiting_under_4h, waiting_4h_to_24h, waiting_1d_to_3d, waiting_over_3d,
               first_responses_due, first_response_sla_breaches
        from tenant_helpdesk_daily
        where $tenant is null or tenant_id = $tenant
        order by tenant_id, day""",
    "forwarding": """
        select tenant_id, last_inbound_at, inbound_last_7_days, usual_gap_seconds / 3600 as usual_gap_hours,
               silent_seconds / 3600 as silent_hours, silent
        from forwarding_health
        where $tenant is null or tenant_id = $tenant
        order by tenant_id""",
    "costs": """
        select tenant_id, month, outbound_usd, attachments_usd, inbound_usd, total_usd
        from tenant_costs
        where $tenant is null or tenant_id = $tenant
        order by tenant_id, month""",
}


class ReportError(ValueError):
    """The report cannot be made (no warehouse, unknown tenant)."""


def read_figures(warehouse: Path, tenant: str | None) -> dict[str, list[dict]]:
    """Every chart's rows, by the names of QUERIES."""
    if not Path(warehouse).exists():
        raise ReportError(f"no warehouse at {warehouse}: run `seslake materialize` first")
    figures: dict[str, list[dict]] = {}
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        connection.execute("set TimeZone = 'UTC'")
        if tenant is not None:
            known = {row[0] for row in connection.execute("select id from tenants").fetchall()}
            if tenant not in known:
                raise ReportError(f"unknown tenant {tenant!r}; known: {', '.join(sorted(known))}")
        for name, sql in QUERIES.items():
            cursor = connection.execute(sql.replace("TRAILING", str(TRAILING_DAYS)), {"tenant": tenant})
            columns = [c[0] for c in cursor.description]
            figures[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return figures
