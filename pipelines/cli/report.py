"""`seslake report [--tenant T] [--html PATH]`: the per-tenant summary, read from the published warehouse
(read-only, so it never blocks a build); the figures are the warehouse model `tenant_summary`; with `--html`,
the report with charts (`pipelines.report.page`). `seslake export --tenant T --out PATH [--with-bodies]`: one
tenant's own warehouse file (`pipelines.warehouse.export`)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pipelines.cli import CommandError
from pipelines.settings import Settings

FIGURE = re.compile(r"-|[0-9.,]+%?")
"""A cell printed right-aligned: a number, a percentage, or `-` for none."""


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
    """The summary per tenant, then its mailbox providers, campaigns and help-desk figures (the HTML report's
    figures, `pipelines.report.figures`, as text tables)."""
    from pipelines.report.figures import ReportError, read_figures

    path = Path(settings.warehouse)
    try:
        figures = read_figures(path, tenant)
    except ReportError as exc:
        raise CommandError(str(exc)) from exc
    if tenant and not figures["summary"]:
        raise CommandError(f"tenant {tenant!r} has no activity in {path}")
    latest = {row["tenant_id"]: row for row in figures["helpdesk"]}  # rows are in day order: the last one stays
    breaches: dict[str, int] = {}
    for row in figures["helpdesk"]:
        breaches[row["tenant_id"]] = breaches.get(row["tenant_id"], 0) + row["first_response_sla_breaches"]
    _table(
        "Summary (all days; bounce and complaint rates over the trailing 30 days)",
        ["tenant", "inbound", "outbound", "delivered", "bounce30d", "complaint30d", "reputation",
         "human opens", "forwarding", "cost USD"],
        [[r["tenant_id"], r["inbound"], r["outbound"], _pct(r["delivered_rate"]), _pct(r["bounce_rate_30d"]),
          _pct(r["complaint_rate_30d"]), r["reputation"] or "-", _pct(r["unique_human_open_rate_of_delivered"]),
          "SILENT" if r["forwarding_silent"] else "ok", f"{r['cost_usd'] or 0:.2f}"] for r in figures["summary"]],
    )  # fmt: skip
    _table(
        "Mailbox providers (all days; human opens = unique human opens / delivered)",
        ["tenant", "provider", "sent", "delivered", "hard bounces", "complaints", "human opens"],
        [[r["tenant_id"], r["provider"], r["sent"], r["delivered"], _pct(r["hard_bounce_rate_of_sent"]),
          _pct(r["complaint_rate_of_sent"], 3), _pct(r["unique_human_open_rate_of_delivered"])]
         for r in figures["providers"]],
    )  # fmt: skip
    _table(
        "Campaigns (mail tagged `campaign`, all days)",
        ["tenant", "campaign", "first day", "sent", "delivered", "human opens", "human clicks", "unsubscribes"],
        [[r["tenant_id"], r["campaign"], f"{r['first_day']:%Y-%m-%d}", r["sent"], r["delivered"],
          _pct(r["unique_human_open_rate_of_delivered"]), _pct(r["unique_human_click_rate_of_delivered"]),
          r["unsubscribes"]] for r in figures["campaigns"]],
    )  # fmt: skip
    _table(
        "Help desk (backlog at the end of the latest day; late first responses over all days)",
        ["tenant", "day", "backlog", "waiting > 3 days", "late first responses"],
        [[t, f"{r['day']:%Y-%m-%d}", r["backlog"], r["waiting_over_3d"], breaches[t]] for t, r in latest.items()],
    )  # fmt: skip
    print(f"warehouse: {path}")
    return 0


def _table(title: str, headers: list[str], rows: list[list[object]]) -> None:
    """Print a titled table: text columns left-aligned, figures right-aligned, each as wide as it needs."""
    print(f"\n{title}")
    if not rows:
        print("  (none)")
        return
    cells = [headers, *([str(value) for value in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    text = [any(FIGURE.fullmatch(row[i]) is None for row in cells[1:]) for i in range(len(headers))]
    for row in cells:
        print("  " + "  ".join(v.ljust(w) if t else v.rjust(w) for v, w, t in zip(row, widths, text, strict=True)))


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"
