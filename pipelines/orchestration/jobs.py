"""The jobs operators see in the UI: intraday ingest, the nightly settle and warehouse rebuild, and the
live hand-off (launched by `inbound_mail_sensor`). Jobs select assets by group or key, so this module
needs none of the asset definitions."""

import dagster as dg

LAKE = dg.AssetSelection.groups("lake")
MAIL = dg.AssetSelection.assets(dg.AssetKey(["lake", "inbound_mail"]), dg.AssetKey(["lake", "outbound_mail"]))
"""The daily-partitioned mail assets: the only ones whose runs of different days may run side by side."""
WAREHOUSE = dg.AssetSelection.groups("warehouse")
HANDOFF_ASSET = dg.AssetKey(["live", "inbound_handoff"])
HANDOFF_OP = "live__inbound_handoff"
"""The op behind HANDOFF_ASSET: where a hand-off run's config goes (`ops: {HANDOFF_OP: {config: …}}`)."""

intraday_ingest_job = dg.define_asset_job(
    "intraday_ingest_job",
    selection=LAKE | WAREHOUSE,
    description="Today's new mail and every not-yet-read event file into the lake, then the warehouse refreshed "
    "for what changed (incremental, audited before it is published).",
)
nightly_job = dg.define_asset_job(
    "nightly_job",
    selection=LAKE | WAREHOUSE,
    description="Re-ingest yesterday completely (late objects included), then refresh and audit the warehouse.",
)
mail_ingest_job = dg.define_asset_job(
    "mail_ingest_job",
    selection=MAIL,
    description="Inbound and outbound mail of some days into the lake. A backfill of it is one run per day (the "
    "assets' backfill policy), queued and run side by side; one run over a range of days is a run of it tagged "
    "dagster/asset_partition_range_start and dagster/asset_partition_range_end.",
)
handoff_inbound = dg.define_asset_job(
    "handoff_inbound",
    selection=dg.AssetSelection.assets(HANDOFF_ASSET) | dg.AssetSelection.checks_for_assets(HANDOFF_ASSET),
    description="Hand a batch of new inbound mail to the reply service (launched by inbound_mail_sensor).",
    executor_def=dg.in_process_executor,  # one process per run: no step subprocesses to start (latency)
)
