"""Schedules: every 15 minutes today's mail into the lake; at 02:30 UTC yesterday settled and the warehouse
rebuilt."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from pipelines.orchestration.jobs import intraday_ingest_job, nightly_job


@dg.schedule(job=intraday_ingest_job, cron_schedule="*/15 * * * *", execution_timezone="UTC")
def intraday_ingest_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.astimezone(UTC).date().isoformat()
    return dg.RunRequest(run_key=None, partition_key=day)


@dg.schedule(job=nightly_job, cron_schedule="30 2 * * *", execution_timezone="UTC")
def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    moment = context.scheduled_execution_time or datetime.now(UTC)
    yesterday = (moment.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=f"nightly-{yesterday}", partition_key=yesterday)
