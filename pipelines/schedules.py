"""Jobs and schedules operators see in the UI: intraday ingest, and a nightly settle + warehouse rebuild."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from pipelines.partitions import daily_partitions

LAKE = dg.AssetSelection.groups("lake")
WAREHOUSE = dg.AssetSelection.groups("warehouse")

intraday_ingest_job = dg.define_asset_job(
    "intraday_ingest_job",
    selection=LAKE,
    partitions_def=daily_partitions,
    description="Today's new mail and every not-yet-read event file into the lake.",
)
nightly_job = dg.define_asset_job(
    "nightly_job",
    selection=LAKE | WAREHOUSE,
    partitions_def=daily_partitions,
    description="Re-ingest yesterday completely (late objects included), then rebuild and check the warehouse.",
)


@dg.schedule(job=intraday_ingest_job, cron_schedule="*/15 * * * *", execution_timezone="UTC")
def intraday_ingest_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.astimezone(UTC).date().isoformat()
    return dg.RunRequest(run_key=None, partition_key=day)


@dg.schedule(job=nightly_job, cron_schedule="30 2 * * *", execution_timezone="UTC")
def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    moment = context.scheduled_execution_time or datetime.now(UTC)
    yesterday = (moment.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=f"nightly-{yesterday}", partition_key=yesterday)


defs = dg.Definitions(jobs=[intraday_ingest_job, nightly_job], schedules=[intraday_ingest_schedule, nightly_schedule])
