"""`seslake report [--tenant T] [--html PATH]`: the per-tenant summary, read from the published warehouse
(read-only, so it never blocks a build); the figures are the warehouse model `tenant_summary`; with `--html`,
the report with charts (`pipelines.report.page`). `seslake export --tenant T --out PATH [--with-bodies]`: one
tenant's own warehouse file (`pipelines.warehouse.export`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli import CommandError
from pipelines.settings import Settings

REPORT_QUERY = "select * from tenant_summary where ? is null or tenant_id = ? order by tenant_id"


def add_parsers(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="print the per-tenant summary from the warehouse")
    report.add_argument("--tenant", help="only this tenant id")
    report.add_argument("--html", type=Path, help="write the report with charts to this self-contained HTML file")
    report.set_defaults(handler=lambda args: run_report(Settings.from_env(), args))

    export = commands.add_parser("export", help="write one tenant's rows of every warehouse table to a DuckDB file")
    export.add_argument("--tenant", required=True, help="the tenant id")
    export.add_argument("--out", required=True, type=Path, help="the DuckDB file to write (replaced if it exists)")
    export.add_argument("--with-bodies", action="store_true", help="include message bodies (text_body)")
    export.set_defaults(handler=lambda args: run_export(Settings.from_env(), args))


def run_report(settings: Settings, args: argparse.Namespace) -> int:
    if args.html is None:
        return print_report(settings, args.tenant)
    from pipelines.report.figures import ReportError
    from pipelines.report.page import write_report

    try:
        path = write_report(Path(settings.warehouse), args.html, args.tenant)
    except ReportError as exc:
        raise CommandError(str(exc)) from exc
    print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB, works offline)")
    return 0


def run_export(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.warehouse.export import ExportError, export_tenant

    try:
        result = export_tenant(Path(settings.warehouse), args.tenant, args.out, with_bodies=args.with_bodies)
    except ExportError as exc:
        raise CommandError(str(exc)) from exc
    rows = sum(result.row_counts.values())
    print(f"{args.tenant}: {rows} rows of {len(result.row_counts)} tables → {result.path}"
          + ("" if args.with_bodies else " (without message bodies)"))  # fmt: skip
    if result.left_out:
        print(f"left out (no tenant column): {', '.join(result.left_out)}")
    return 0


def print_report(settings: Settings, tenant: str | None) -> int:
    import duckdb

    path = Path(settings.warehouse)
    if not path.exists():
        raise CommandError(f"no warehouse at {path}: run `seslake materialize` first")
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(REPORT_QUERY, [tenant, tenant]).fetchall()
    if tenant and not rows:
        raise CommandError(f"tenant {tenant!r} has no activity in {path}")

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.2f}%"

    print()
    print(f"{'tenant':<16}{'inbound':>8}{'outbound':>9}{'delivered':>10}{'bounce30d':>10}{'complaint30d':>13}"
          f"{'reputation':>12}{'open rate':>12}{'forwarding':>11}{'cost USD':>10}")  # fmt: skip
    for name, inbound, outbound, delivered, bounce, complaint, status, opens, silent, cost in rows:
        print(f"{name:<16}{inbound:>8}{outbound:>9}{pct(delivered):>10}{pct(bounce):>10}{pct(complaint):>13}"
              f"{status or '-':>12}{pct(opens):>12}{'SILENT' if silent else 'ok':>11}{cost or 0:>10.2f}")  # fmt: skip
    print(f"warehouse: {path}")
    return 0
