"""The seslake code location: every area's Definitions merged, with resources wired once.

The only module of `pipelines` that imports `assets/`."""

from __future__ import annotations

import dagster as dg

from assets import events, handoff, mime_ingest, threads, warehouse
from pipelines.orchestration.jobs import handoff_inbound, intraday_ingest_job, mail_ingest_job, nightly_job
from pipelines.orchestration.resources import resource_defs
from pipelines.orchestration.schedules import intraday_ingest_schedule, nightly_schedule
from pipelines.orchestration.sensors import inbound_mail_sensor

defs = dg.Definitions.merge(
    mime_ingest.defs,
    events.defs,
    threads.defs,
    handoff.defs,
    warehouse.defs,
    dg.Definitions(
        jobs=[intraday_ingest_job, nightly_job, mail_ingest_job, handoff_inbound],
        schedules=[intraday_ingest_schedule, nightly_schedule],
        sensors=[inbound_mail_sensor],
        resources=resource_defs(),
    ),
)
