"""Partitions shared by the lake assets."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from pipelines.settings import env_value

daily_partitions = dg.DailyPartitionsDefinition(start_date=env_value("SESLAKE_START_DATE"), end_offset=1)
"""One partition per UTC day of arrival; the current day is included so new mail lands at once."""


def partition_days(context: dg.AssetExecutionContext) -> tuple[list[date], bool]:
    """The days a (possibly multi-day, single-run backfill) materialization covers, and whether it
    starts at the first partition, in which case it also takes everything older."""
    window = context.partition_time_window
    first, last = window.start.date(), window.end.date()
    days = [first + timedelta(days=i) for i in range((last - first).days)]
    starts_at_beginning = context.partition_key_range.start == daily_partitions.get_first_partition_key()
    return days, starts_at_beginning
