"""`seslake report [--tenant T]`: the per-tenant summary, read from the published warehouse (read-only, so
it never blocks a build). The figures are the warehouse model `tenant_summary`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli import CommandError
from pipelines.settings import Settings

REPORT_QUERY = "select * from tenant_summary where ? is null or tenant_id = ? order by tenant_id"


def add_parsers(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="print the per-tenant summary from the warehouse")
    report.add_argument("--tenant", help="only this tenant id")
    report.set_defaults(handler=lambda args: print_report(Settings.from_env(), args.tenant))


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
          f"{'reputation':>12}{'human opens':>12}{'forwarding':>11}{'cost USD':>10}")  # fmt: skip
    for name, inbound, outbound, delivered, bounce, complaint, status, opens, silent, cost in rows:
        print(f"{name:<16}{inbound:>8}{outbound:>9}{pct(delivered):>10}{pct(bounce):>10}{pct(complaint):>13}"
              f"{status or '-':>12}{pct(opens):>12}{'SILENT' if silent else 'ok':>11}{cost or 0:>10.2f}")  # fmt: skip
    print(f"warehouse: {path}")
    return 0
