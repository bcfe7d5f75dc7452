"""Partitions shared by the lake assets, and how a run says which days and tenants it covers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import dagster as dg

from pipelines.settings import Settings

daily_partitions = dg.DailyPartitionsDefinition(start_date=Settings.from_env().start_date.isoformat(), end_offset=1)
"""One partition per UTC day of arrival; the current day is included so new mail lands at once. The first
day (SESLAKE_START_DATE) is part of the code location's structure, so it is read when the location loads."""


def partition_days(context: dg.AssetExecutionContext) -> tuple[list[date], bool]:
    """The days a (possibly multi-day, single-run backfill) materialization covers, and whether it
    starts at the first partition, in which case it also takes everything older."""
    window = context.partition_time_window
    first, last = window.start.date(), window.end.date()
    days = [first + timedelta(days=i) for i in range((last - first).days)]
    starts_at_beginning = context.partition_key_range.start == daily_partitions.get_first_partition_key()
    return days, starts_at_beginning


TENANTS_TAG = "seslake/tenants"
"""Run or backfill tag naming the tenants (comma-separated) a lake materialization is limited to."""


def scoped_tenants(context: dg.AssetExecutionContext, known: Iterable[str]) -> set[str] | None:
    """The tenants named by the run's TENANTS_TAG, or None for all of them.

    An operator backfills one tenant by launching the backfill with this tag: the run rewrites only
    that tenant's partitions, exactly as a full run would write them."""
    value = context.run.tags.get(TENANTS_TAG, "").strip()
    if not value:
        return None
    tenants = {t.strip() for t in value.split(",") if t.strip()}
    unknown = sorted(tenants - set(known))
    if unknown:
        raise dg.Failure(f"{TENANTS_TAG}: unknown tenant(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return tenants
