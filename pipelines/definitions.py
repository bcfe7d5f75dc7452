"""The seslake code location: every area's Definitions merged, with resources wired once."""

from __future__ import annotations

import dagster as dg

from assets import checks, events, handoff, mime_ingest, threads, warehouse
from pipelines import schedules
from pipelines.resources import resource_defs

defs = dg.Definitions.merge(
    mime_ingest.defs,
    events.defs,
    threads.defs,
    handoff.defs,
    warehouse.defs,
    checks.defs,
    schedules.defs,
    dg.Definitions(resources=resource_defs()),
)
