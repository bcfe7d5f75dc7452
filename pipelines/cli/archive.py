"""`seslake generate`, `materialize`, `demo` and `ui`: write a demo archive, materialize every asset headless, or
both; then look at it in the Dagster UI.

`materialize` runs the same asset definitions the Dagster UI shows (one run per asset over every
partition), on the project's Dagster instance (`pipelines.orchestration.instance`: DAGSTER_HOME, else
`dagster_home/` beside the warehouse). `demo` generates an archive when the source is empty, materializes it,
prints the per-tenant report and hands the newest inbound mail to a local reply-service stub through the live
job. `ui` starts `dagster dev` on the same instance, so the UI shows what they did.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path

from pipelines.cli import CommandError
from pipelines.cli.progress import Progress, progress_lines
from pipelines.cli.report import print_report
from pipelines.settings import Settings

SUMMARY_METADATA = (
    "objects",
    "messages",
    "quarantined",
    "files_read",
    "new_events",
    "duplicates_dropped",
    "bad_lines",
    "mode",
    "lake_files_read",
)
"""Materialization metadata printed after each asset."""
DEMO_HANDOFFS = 8
"""Newest inbound messages the demo hands to the local reply-service stub."""


def add_parsers(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser("generate", help="write a realistic multi-tenant SES archive into a folder")
    generate.add_argument("--dir", required=True, type=Path, help="folder laid out like the bucket")
    _generation_options(generate)
    generate.set_defaults(handler=lambda args: generate_into(args.dir, args))

    materialize = commands.add_parser("materialize", help="materialize every asset against the configured source")
    materialize.set_defaults(handler=lambda args: run_materialize(Settings.from_env()))

    demo = commands.add_parser("demo", help="generate an archive if the source is empty, then materialize it")
    _generation_options(demo)
    demo.set_defaults(handler=lambda args: run_demo(Settings.from_env(), args))

    ui = commands.add_parser("ui", help="the Dagster UI (dagster dev) on the instance demo and materialize use")
    ui.add_argument("--port", type=int, default=3000, help="the web server's port (default 3000)")
    ui.set_defaults(handler=lambda args: run_ui(Settings.from_env(), args.port))


def _generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenants", type=int, default=3, help="number of tenants (default 3)")
    parser.add_argument("--days", type=int, default=30, help="days of mail (default 30)")
    parser.add_argument("--seed", type=int, default=7, help="random seed; same seed, same bytes (default 7)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 10, 1), help="first day (2026-10-01)")
    parser.add_argument("--messages", type=int, default=None, help="total inbound messages (default: realistic rate)")


def generate_into(dest: Path, args: argparse.Namespace) -> int:
    from pipelines.generator import generate_archive, messages_per_day_for

    per_day = messages_per_day_for(args.messages, args.tenants, args.days) if args.messages else None
    progress = Progress("generating", args.tenants + 1, every=1)
    summary = generate_archive(
        dest,
        tenants=args.tenants,
        days=args.days,
        seed=args.seed,
        start=args.start,
        messages_per_day=per_day,
        tracking_secret=Settings.from_env().tracking_secret,
        on_step=lambda step: progress.advance(note=step),
    )
    progress.close()
    print(
        f"generated {summary.inbound_objects} inbound and {summary.outbound_objects} outbound messages, "
        f"{summary.event_files} event files ({summary.event_lines} lines) for {summary.tenants} tenants "
        f"in {summary.seconds:.1f}s → {dest}"
    )
    return 0


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    if _source_is_empty(settings):
        print(f"source {settings.source} is empty: generating a demo archive")
        if settings.source.startswith("s3://"):
            with tempfile.TemporaryDirectory(prefix="seslake-demo-") as tmp:
                generate_into(Path(tmp), args)
                _upload(Path(tmp), settings)
        else:
            generate_into(Path(settings.source), args)
    status = run_materialize(settings)
    if status == 0:
        print_report(settings, None)
        _demo_handoff(settings)
        _print_where(settings)
    return status


def run_ui(settings: Settings, port: int) -> int:
    """Replace this process with `dagster dev` on the project's instance and the seslake code location."""
    import os
    import sys

    from pipelines.orchestration.instance import prepare_instance_home

    home = prepare_instance_home(settings)
    print(f"Dagster UI on http://127.0.0.1:{port}, instance {home}", flush=True)
    command = [sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions", "-p", str(port)]
    command += ["-h", "127.0.0.1"]
    os.execve(sys.executable, command, settings.environment(DAGSTER_HOME=str(home)))


def _source_is_empty(settings: Settings) -> bool:
    from pipelines.storage.objects import open_store

    store = open_store(settings.source, settings.endpoint)
    return next(iter(store.list(settings.inbound_prefix)), None) is None


def _upload(folder: Path, settings: Settings) -> None:
    from pipelines.storage.objects import open_store

    store = open_store(settings.source, settings.endpoint)
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.relative_to(folder).parts[0].startswith("_")]
    progress = Progress(f"uploading to {settings.source}", len(files))
    for path in files:
        store.put(path.relative_to(folder).as_posix(), path.read_bytes())
        progress.advance()
    progress.close()
    print(f"uploaded {len(files)} objects to {settings.source}")


def run_materialize(settings: Settings) -> int:
    """Run every asset over every partition in one run per asset, printing progress."""
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.orchestration.instance import project_instance
    from pipelines.orchestration.partitions import daily_partitions
    from pipelines.tenants import TenantRegistryError, load_registry

    try:
        registry = load_registry(settings.registry_location, settings.endpoint)
    except TenantRegistryError as exc:
        raise CommandError(str(exc)) from exc
    print(f"tenant registry {settings.registry_location}: {len(registry)} tenants")
    print(f"source {settings.source} → lake {settings.lake}")

    instance = project_instance(settings)
    print(f"Dagster instance {instance.root_directory} (`seslake ui` shows these runs)")
    keys = daily_partitions.get_partition_keys()
    partition_range = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    assets = list(defs.assets or [])
    batch = [a for a in assets if "live" not in a.group_names_by_key.values()]  # the live path is sensor-driven
    for asset in batch:  # one run per asset definition (the warehouse's models are built by one step)
        keys_of = sorted(asset.keys, key=lambda k: k.to_user_string())
        name = keys_of[0].to_user_string() if len(keys_of) == 1 else f"{asset.node_def.name} ({len(keys_of)} models)"
        started = time.perf_counter()
        span = f" ({keys[0]} … {keys[-1]})" if asset.partitions_def else ""
        print(f"materializing {name}{span} …", flush=True)
        with progress_lines():
            result = dg.materialize(
                [*assets, *(defs.asset_checks or [])],
                selection=dg.AssetSelection.assets(*keys_of) | dg.AssetSelection.checks_for_assets(*keys_of),
                resources=defs.resources,
                instance=instance,
                tags=partition_range if asset.partitions_def else {},
                run_config=quiet,
                raise_on_error=False,
            )
        checks = result.get_asset_check_evaluations()
        if not result.success:
            failed = ", ".join(c.check_name for c in checks if not c.passed)
            raise CommandError(f"{name} failed: {_first_failure(result)}" + (f" (checks: {failed})" if failed else ""))
        events = result.asset_materializations_for_node(asset.op.name)
        metadata = events[-1].metadata if events else {}
        shown = {k: getattr(v, "value", v) for k, v in metadata.items() if k in SUMMARY_METADATA}
        print(f"  done in {time.perf_counter() - started:.1f}s: {shown}", flush=True)
        failures = [c for c in checks if not c.passed]
        if checks:
            print(f"  checks: {len(checks) - len(failures)} of {len(checks)} passed", flush=True)
        for check in failures:
            warn = check.severity == dg.AssetCheckSeverity.WARN
            print(f"  check {check.check_name}: {'warning' if warn else 'FAILED'}", flush=True)
    return 0


def _first_failure(result) -> str:
    for event in result.all_events:
        if event.is_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            return f"{error.cls_name}: {error.message.strip()}"
    return "see the Dagster run log"


def _demo_handoff(settings: Settings) -> None:
    """Start the reply-service stub and hand it the newest inbound messages through the live job, then
    show what arrived (the same run the sensor launches, here on demand)."""
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.handoff.discovery import InboundItem
    from pipelines.handoff.ledger import is_postgres_url
    from pipelines.handoff.stub import serve
    from pipelines.orchestration.instance import project_instance
    from pipelines.orchestration.jobs import HANDOFF_ASSET
    from pipelines.orchestration.resources import HandoffResource
    from pipelines.orchestration.sensors import handoff_run_config
    from pipelines.settings import DEFAULT_DATA_DIR
    from pipelines.storage.objects import open_store

    secret = settings.reply_secret or "demo-secret"
    ledger = settings.handoff_ledger
    store_path = (DEFAULT_DATA_DIR if is_postgres_url(ledger) else Path(ledger).parent) / "reply-stub-received.jsonl"
    store_path.unlink(missing_ok=True)
    stub = serve(0, secret, store_path)
    print(
        f"\nreply-service stub listening on {stub.inbound_url}; handing it the {DEMO_HANDOFFS} newest inbound messages"
    )
    listing = open_store(settings.source, settings.endpoint).list(settings.inbound_prefix)
    newest = sorted(listing, key=lambda info: info.last_modified)[-DEMO_HANDOFFS:]
    resources = {**defs.resources, "handoff": HandoffResource(reply_url=stub.inbound_url, reply_secret=secret)}
    run_config = handoff_run_config([InboundItem(object_key=info.key) for info in newest])
    run_config["loggers"] = {"console": {"config": {"log_level": "WARNING"}}}
    selection = dg.AssetSelection.assets(HANDOFF_ASSET) | dg.AssetSelection.checks_for_assets(HANDOFF_ASSET)
    try:
        dg.materialize([*defs.assets, *defs.asset_checks], selection=selection, resources=resources,
                       run_config=run_config, instance=project_instance(settings))  # fmt: skip
    finally:
        stub.shutdown()
    for line in store_path.read_text().splitlines() if store_path.exists() else []:
        payload = json.loads(line)["payload"]
        first_line = (payload.get("stripped_text") or "").strip().splitlines()[:1]
        print(f"  {payload['ids']['tenant_id']:<16} thread {payload['ids']['thread_id']}  "
              f"{payload['subject'][:40]!r:<44} {first_line[0][:50] if first_line else ''!r}")  # fmt: skip
    stats = stub.stats()
    print(
        f"stub: {stats['accepted']} accepted, {stats['distinct_event_ids']} distinct event ids, "
        f"{stats['rejected_signature']} bad signatures"
    )


def _print_where(settings: Settings) -> None:
    """Where the demo's data is, and what was quarantined (from the warehouse, not a second lake scan)."""
    import duckdb

    with duckdb.connect(settings.warehouse, read_only=True) as connection:
        reasons = connection.execute("select reason, count(*) from quarantine group by 1 order by 1").fetchall()
    print()
    print(f"quarantined: {sum(n for _, n in reasons)} " + ", ".join(f"{r}={n}" for r, n in reasons))
    print(f"lake: {settings.lake}   (tables messages, recipients, attachments, quarantine, events; tenant=…/date=…)")
    print(f"Dagster instance: {settings.instance_home}; `seslake ui` opens the UI on it (runs, metadata, checks)")
