"""The `seslake` command: generate an archive, materialize every asset headless, run the demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

from pipelines.handoff_cli import add_parsers as add_handoff_parsers
from pipelines.settings import Settings
from pipelines.threads_cli import add_parser as add_threads_parser
from pipelines.threads_cli import run as run_threads


def main(argv: list[str] | None = None) -> int:
    # backfill_policy is marked beta in this Dagster release; the notice is noise on a terminal.
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
    parser = argparse.ArgumentParser(prog="seslake", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write a realistic multi-tenant SES archive into a folder")
    generate.add_argument("--dir", required=True, type=Path, help="folder laid out like the bucket")
    _generation_options(generate)

    commands.add_parser("materialize", help="materialize every asset against the configured source")

    demo = commands.add_parser("demo", help="generate an archive if the source is empty, then materialize it")
    _generation_options(demo)

    report = commands.add_parser("report", help="print the per-tenant summary from the warehouse")
    report.add_argument("--tenant", help="only this tenant id")

    add_threads_parser(commands)
    add_handoff_parsers(commands)

    args = parser.parse_args(argv)
    try:
        if args.command == "generate":
            return _generate(args.dir, args)
        if args.command == "materialize":
            return _materialize(Settings.from_env())
        if args.command == "report":
            return _report(Settings.from_env(), args.tenant)
        if args.command == "threads":
            return run_threads(args)
        if args.command in ("reply-stub", "replay"):
            return args.handler(args)
        return _demo(Settings.from_env(), args)
    except SeslakeError as exc:
        print(f"seslake: error: {exc}", file=sys.stderr)
        return 2


SUMMARY_METADATA = (
    "objects",
    "messages",
    "quarantined",
    "files_read",
    "new_events",
    "duplicates_dropped",
    "bad_lines",
    "models",
)
"""Materialization metadata printed after each asset."""


class SeslakeError(Exception):
    """A failure the user can act on; printed without a traceback."""


def _generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenants", type=int, default=3, help="number of tenants (default 3)")
    parser.add_argument("--days", type=int, default=30, help="days of mail (default 30)")
    parser.add_argument("--seed", type=int, default=7, help="random seed; same seed, same bytes (default 7)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 10, 1), help="first day (2026-10-01)")
    parser.add_argument("--messages", type=int, default=None, help="total inbound messages (default: realistic rate)")


def _generate(dest: Path, args: argparse.Namespace) -> int:
    from pipelines.generator import generate_archive, messages_per_day_for

    per_day = messages_per_day_for(args.messages, args.tenants, args.days) if args.messages else None
    summary = generate_archive(
        dest, tenants=args.tenants, days=args.days, seed=args.seed, start=args.start, messages_per_day=per_day
    )
    print(
        f"generated {summary.inbound_objects} inbound and {summary.outbound_objects} outbound messages, "
        f"{summary.event_files} event files ({summary.event_lines} lines) for {summary.tenants} tenants "
        f"in {summary.seconds:.1f}s → {dest}"
    )
    return 0


def _source_is_empty(settings: Settings) -> bool:
    from pipelines.objects import open_store

    store = open_store(settings.source, settings.s3_endpoint_url or None)
    return next(iter(store.list(settings.inbound_prefix)), None) is None


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    if _source_is_empty(settings):
        print(f"source {settings.source} is empty: generating a demo archive")
        if settings.source.startswith("s3://"):
            with tempfile.TemporaryDirectory(prefix="seslake-demo-") as tmp:
                _generate(Path(tmp), args)
                _upload(Path(tmp), settings)
        else:
            _generate(Path(settings.source), args)
    status = _materialize(settings)
    if status == 0:
        _report(settings, None)
        _demo_handoff(settings)
        _print_where(settings)
    return status


DEMO_HANDOFFS = 8


def _demo_handoff(settings: Settings) -> None:
    """Start the reply-service stub and hand it the newest inbound messages through the live job, then
    show what arrived (the same run the sensor launches, here on demand)."""
    import dagster as dg

    from assets.handoff import inbound_handoff, no_dead_letters
    from pipelines.objects import open_store
    from pipelines.reply_stub import serve
    from pipelines.resources import ArchiveResource, HandoffResource, LakeResource

    secret = settings.reply_secret or "demo-secret"
    store_path = Path(settings.handoff_ledger).with_name("reply-stub-received.jsonl")
    store_path.unlink(missing_ok=True)
    stub = serve(0, secret, store_path)
    print(
        f"\nreply-service stub listening on {stub.inbound_url}; handing it the {DEMO_HANDOFFS} newest inbound messages"
    )
    newest = sorted(open_store(settings.source, settings.s3_endpoint_url or None).list(settings.inbound_prefix),
                    key=lambda info: info.last_modified)[-DEMO_HANDOFFS:]  # fmt: skip
    endpoint = settings.s3_endpoint_url
    resources = {
        "archive": ArchiveResource(source=settings.source, s3_endpoint_url=endpoint,
                                   inbound_prefix=settings.inbound_prefix, tenants=settings.tenants),
        "lake": LakeResource(root=settings.lake, s3_endpoint_url=endpoint),
        "handoff": HandoffResource(reply_url=stub.inbound_url, reply_secret=secret,
                                   ledger_path=settings.handoff_ledger, s3_endpoint_url=endpoint),
    }  # fmt: skip
    items = [{"object_key": info.key} for info in newest]
    try:
        dg.materialize([inbound_handoff, no_dead_letters], resources=resources,
                       run_config={"ops": {"live__inbound_handoff": {"config": {"items": items}}},
                                   "loggers": {"console": {"config": {"log_level": "WARNING"}}}})  # fmt: skip
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


def _upload(folder: Path, settings: Settings) -> None:
    from pipelines.objects import open_store

    store = open_store(settings.source, settings.s3_endpoint_url or None)
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.relative_to(folder).parts[0].startswith("_")]
    for path in files:
        store.put(path.relative_to(folder).as_posix(), path.read_bytes())
    print(f"uploaded {len(files)} objects to {settings.source}")


def _materialize(settings: Settings) -> int:
    """Run every asset over every partition in one run per asset, printing progress."""
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.partitions import daily_partitions
    from pipelines.tenants import TenantRegistryError, load_registry

    try:
        registry = load_registry(settings.tenants, settings.s3_endpoint_url or None)
    except TenantRegistryError as exc:
        raise SeslakeError(str(exc)) from exc
    print(f"tenant registry {settings.tenants}: {len(registry)} tenants")
    print(f"source {settings.source} → lake {settings.lake}")

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    keys = daily_partitions.get_partition_keys()
    partition_range = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    assets = list(defs.assets or [])
    batch = [a for a in assets if "live" not in a.group_names_by_key.values()]  # the live path is sensor-driven
    for asset in batch:
        for key in asset.keys:
            started = time.perf_counter()
            span = f" ({keys[0]} … {keys[-1]})" if asset.partitions_def else ""
            print(f"materializing {key.to_user_string()}{span} …", flush=True)
            result = dg.materialize(
                [*assets, *(defs.asset_checks or [])],
                selection=dg.AssetSelection.assets(key) | dg.AssetSelection.checks_for_assets(key),
                resources=defs.resources,
                instance=instance,
                tags=partition_range if asset.partitions_def else {},
                run_config=quiet,
                raise_on_error=False,
            )
            if not result.success:
                failure = _first_failure(result)
                raise SeslakeError(f"{key.to_user_string()} failed: {failure}")
            events = result.asset_materializations_for_node(asset.op.name)
            metadata = events[-1].metadata if events else {}
            shown = {k: getattr(v, "value", v) for k, v in metadata.items() if k in SUMMARY_METADATA}
            print(f"  done in {time.perf_counter() - started:.1f}s: {shown}", flush=True)
            for check in result.get_asset_check_evaluations():
                warn = check.severity == dg.AssetCheckSeverity.WARN
                verdict = "passed" if check.passed else ("warning" if warn else "FAILED")
                print(f"  check {check.check_name}: {verdict}", flush=True)
    return 0


def _first_failure(result) -> str:
    for event in result.all_events:
        if event.is_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            return f"{error.cls_name}: {error.message.strip()}"
    return "see the Dagster run log"


def _print_where(settings: Settings) -> None:
    """Where the demo's data is, and what was quarantined (from the warehouse, not a second lake scan)."""
    import duckdb

    with duckdb.connect(settings.warehouse, read_only=True) as connection:
        reasons = connection.execute("select reason, count(*) from quarantine group by 1 order by 1").fetchall()
    print()
    print(f"quarantined: {sum(n for _, n in reasons)} " + ", ".join(f"{r}={n}" for r, n in reasons))
    print(f"lake: {settings.lake}   (tables messages, recipients, attachments, quarantine, events; tenant=…/date=…)")


REPORT_SQL = """
select d.tenant_id,
       sum(d.inbound_messages) as inbound,
       sum(d.outbound_messages) as outbound,
       sum(d.delivered) / nullif(sum(d.sent), 0) as delivered_rate,
       any_value(r.bounce_rate) as bounce_rate_30d,
       any_value(r.complaint_rate) as complaint_rate_30d,
       any_value(r.status) as reputation,
       sum(d.human_opens) / nullif(sum(d.delivered), 0) as human_opens_per_delivery,
       any_value(f.silent) as forwarding_silent,
       (select sum(total_usd) from tenant_costs c where c.tenant_id = d.tenant_id) as cost_usd
from tenant_daily d
left join tenant_reputation r using (tenant_id)
left join forwarding_health f using (tenant_id)
where ? is null or d.tenant_id = ?
group by d.tenant_id
order by d.tenant_id
"""


def _report(settings: Settings, tenant: str | None) -> int:
    """The per-tenant summary, read from the published warehouse (read-only: never blocks a build)."""
    import duckdb

    path = Path(settings.warehouse)
    if not path.exists():
        raise SeslakeError(f"no warehouse at {path}: run `seslake materialize` first")
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(REPORT_SQL, [tenant, tenant]).fetchall()
    if tenant and not rows:
        raise SeslakeError(f"tenant {tenant!r} has no activity in {path}")

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.2f}%"

    print()
    print(f"{'tenant':<16}{'inbound':>8}{'outbound':>9}{'delivered':>10}{'bounce30d':>10}{'complaint30d':>13}"
          f"{'reputation':>12}{'human opens':>12}{'forwarding':>11}{'cost USD':>10}")  # fmt: skip
    for name, inbound, outbound, delivered, bounce, complaint, status, opens, silent, cost in rows:
        print(f"{name:<16}{inbound:>8}{outbound:>9}{pct(delivered):>10}{pct(bounce):>10}{pct(complaint):>13}"
              f"{status or '-':>12}{pct(opens):>12}{'SILENT' if silent else 'ok':>11}{cost or 0:>10.2f}")  # fmt: skip
    print(f"warehouse: {path}")
    return 0
