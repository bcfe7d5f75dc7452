"""Lake asset giving every message its thread."""

import dagster as dg

from pipelines.orchestration.resources import ArchiveResource, LakeResource
from pipelines.threads.lake import thread_lake

from .mime_ingest import inbound_mail, outbound_mail


class ThreadsConfig(dg.Config):
    full_rebuild: bool = False
    """Forget the saved threading state and thread every message again (the same ids come out)."""


@dg.asset(
    key_prefix="lake",
    group_name="lake",
    kinds={"parquet"},
    deps=[inbound_mail, outbound_mail],
    pool="seslake_threads",  # one writer of the threading state and of message_threads / thread_renames at a time
    description="Every message of the lake in its conversation: lake table `message_threads` (thread_id and the "
    "In-Reply-To / References / subject an answer should carry) and `thread_renames` (threads later joined). "
    "Incremental: only the days changed since the last run are read, and only the part of the saved threading "
    "state (a local SQLite file, SESLAKE_THREAD_STATE) the new mail can reach is loaded.",
)
def message_threads(
    context: dg.AssetExecutionContext, config: ThreadsConfig, archive: ArchiveResource, lake: LakeResource
) -> dg.MaterializeResult:
    registry = archive.registry()
    domains = sorted(registry.inbound_domains)
    result = thread_lake(
        lake.lake(),
        full_rebuild=config.full_rebuild,
        inbound_domains=domains,
        tracking_secret=archive.settings().tracking_secret,
        state_path=lake.settings().thread_state,
    )
    how = f"full rebuild ({result.reason})" if result.full_rebuild else "incremental"
    context.log.info(f"{how}: {result.messages_threaded} messages into {result.threads_touched} threads")
    return dg.MaterializeResult(
        metadata={
            "messages_threaded": dg.MetadataValue.int(result.messages_threaded),
            "threads_touched": dg.MetadataValue.int(result.threads_touched),
            "threads_renamed": dg.MetadataValue.int(result.threads_renamed),
            "mode": how,
            "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
        }
    )


defs = dg.Definitions(assets=[message_threads])
