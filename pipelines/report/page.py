"""The HTML report: one self-contained file (plotly.js inlined, no network fetch) with a section per tenant: key
figures, then charts a tenant manager reads: volume and delivery over time, trailing bounce and complaint
rates against SES's review and pause lines, unique open and click rates (people apart from machine opens), the
breakdown by mailbox provider and by campaign, the local weekday and hour mail arrives, first response times,
the backlog by waiting time with first-response SLA breaches, forwarding health and estimated cost.

Charts are drawn with Plotly: interactive (hover, zoom, hide a series) in a file that works offline, because
the page carries plotly.js itself.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from pipelines.report.figures import TRAILING_DAYS, read_figures
from pipelines.warehouse.thresholds import BOUNCE_PAUSE, BOUNCE_REVIEW, COMPLAINT_PAUSE, COMPLAINT_REVIEW

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1f2933; }
h1 { margin-bottom: 0; } .built { color: #616e7c; margin-top: .25rem; }
section { border-top: 1px solid #d9e2ec; margin-top: 2rem; padding-top: 1rem; }
.tiles { display: flex; flex-wrap: wrap; gap: .75rem; }
.tile { background: #f0f4f8; border-radius: 6px; padding: .6rem .9rem; min-width: 8rem; }
.tile b { display: block; font-size: 1.3rem; } .tile span { color: #52606d; font-size: .8rem; }
.alert { background: #ffe3e3; } .chart { margin-top: 1rem; }
"""
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""ISO weekdays 1–7, as tenant_hourly numbers them."""
LAYOUT = {"height": 320, "margin": {"l": 50, "r": 20, "t": 40, "b": 40}, "legend": {"orientation": "h"}}


def write_report(warehouse: Path, target: Path, tenant: str | None = None) -> Path:
    """Write the report of `tenant` (every tenant when None) from the published warehouse into `target`,
    whole (written beside it, then renamed)."""
    figures = read_figures(warehouse, tenant)
    tenants = [row["tenant_id"] for row in figures["summary"]]
    title = f"seslake report: {tenant}" if tenant else "seslake report: every tenant"
    sections = [_section(t, {name: [r for r in rows if r["tenant_id"] == t] for name, rows in figures.items()})
                for t in tenants]  # fmt: skip
    built = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='built'>built {built} from {html.escape(Path(warehouse).name)}; "
        f"{len(tenants)} tenant(s)</p>{''.join(sections) or '<p>No activity in the warehouse.</p>'}</body></html>"
    )
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, target)
    return target


def _section(tenant: str, rows: dict[str, list[dict]]) -> str:
    summary = rows["summary"][0]
    forwarding = rows["forwarding"][0] if rows["forwarding"] else {}
    tiles = [
        ("inbound messages", f"{summary['inbound']:,}", False),
        ("outbound messages", f"{summary['outbound']:,}", False),
        ("delivered", _pct(summary["delivered_rate"]), False),
        ("bounce rate, 30 days", _pct(summary["bounce_rate_30d"]), (summary["bounce_rate_30d"] or 0) >= BOUNCE_REVIEW),
        ("complaint rate, 30 days", _pct(summary["complaint_rate_30d"], 3),
         (summary["complaint_rate_30d"] or 0) >= COMPLAINT_REVIEW),
        ("reputation", summary["reputation"] or "-", summary["reputation"] in ("review", "pause_risk")),
        ("forwarding", "SILENT" if forwarding.get("silent") else "ok", bool(forwarding.get("silent"))),
        ("estimated cost, USD", f"{summary['cost_usd'] or 0:,.2f}", False),
    ]  # fmt: skip
    tile_html = "".join(
        f"<div class='tile{' alert' if alert else ''}'><b>{html.escape(value)}</b><span>{html.escape(label)}"
        f"</span></div>"
        for label, value, alert in tiles
    )
    charts = [
        _volume(rows["daily"]),
        _reputation(rows["daily"]),
        _engagement(rows["daily"]),
        _providers(rows["providers"]),
        _campaigns(rows["campaigns"]),
        _local_hours(rows["hourly"]),
        _response(rows["response"]),
        _backlog(rows["helpdesk"]),
        _costs(rows["costs"]),
    ]
    body = "".join(f"<div class='chart'>{chart.to_html(full_html=False, include_plotlyjs=False)}</div>"
                   for chart in charts)  # fmt: skip
    silent = ""
    if forwarding:
        silent = (f"<p>Last inbound mail {forwarding['last_inbound_at']:%Y-%m-%d %H:%M} UTC; "
                  f"{forwarding['inbound_last_7_days']} in the last 7 days; usually one every "
                  f"{_hours(forwarding['usual_gap_hours'])}.</p>")  # fmt: skip
    return f"<section><h2>{html.escape(tenant)}</h2><div class='tiles'>{tile_html}</div>{silent}{body}</section>"


def _series(rows: Iterable[dict], x: str, y: str) -> tuple[list, list]:
    listed = list(rows)
    return [r[x] for r in listed], [r[y] for r in listed]


def _volume(daily: list[dict]) -> go.Figure:
    figure = go.Figure(layout={**LAYOUT, "title": "Mail per day"})
    for column, name in (("inbound_messages", "inbound"), ("outbound_messages", "outbound"), ("sent", "sent"),
                         ("delivered", "delivered")):  # fmt: skip
        figure.add_scatter(x=[r["day"] for r in daily], y=[r[column] for r in daily], name=name, mode="lines+markers")
    return figure


def _reputation(daily: list[dict]) -> go.Figure:
    titles = (f"Bounce rate, trailing {TRAILING_DAYS} days", f"Complaint rate, trailing {TRAILING_DAYS} days")
    figure = make_subplots(rows=1, cols=2, subplot_titles=titles)
    figure.update_layout(**LAYOUT, showlegend=False)
    days = [r["day"] for r in daily]
    for col, column, review, pause in ((1, "bounce_rate_trailing", BOUNCE_REVIEW, BOUNCE_PAUSE),
                                       (2, "complaint_rate_trailing", COMPLAINT_REVIEW, COMPLAINT_PAUSE)):  # fmt: skip
        figure.add_scatter(x=days, y=[r[column] for r in daily], mode="lines", name=column, row=1, col=col)
        figure.add_hline(y=review, line_dash="dash", line_color="#f0b429", annotation_text="SES review", row=1, col=col)
        figure.add_hline(y=pause, line_dash="dash", line_color="#e12d39", annotation_text="SES pause", row=1, col=col)
        figure.update_yaxes(tickformat=".1%" if col == 1 else ".2%", rangemode="tozero", row=1, col=col)
    return figure


def _engagement(daily: list[dict]) -> go.Figure:
    figure = go.Figure(layout={**LAYOUT, "title": "Opens and clicks per delivered message (unique)"})
    for column, name in (("unique_human_open_rate_of_delivered", "opened by a person"),
                         ("unique_open_rate_of_delivered", "opened, machine opens included"),
                         ("unique_human_click_rate_of_delivered", "clicked by a person")):  # fmt: skip
        figure.add_scatter(x=[r["day"] for r in daily], y=[r[column] for r in daily], name=name, mode="lines+markers")
    figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    return figure


def _providers(providers: list[dict]) -> go.Figure:
    titles = ("Sent per mailbox provider", "Hard bounces / sent and human opens / delivered")
    figure = make_subplots(rows=1, cols=2, subplot_titles=titles)
    figure.update_layout(**LAYOUT)
    names = [r["provider"] for r in providers]
    figure.add_bar(x=names, y=[r["sent"] for r in providers], name="sent", row=1, col=1)
    figure.add_bar(x=names, y=[r["hard_bounce_rate_of_sent"] for r in providers], name="hard bounce rate", row=1,
                   col=2)  # fmt: skip
    figure.add_bar(x=names, y=[r["unique_human_open_rate_of_delivered"] for r in providers], name="human open rate",
                   row=1, col=2)  # fmt: skip
    figure.update_yaxes(tickformat=".0%", row=1, col=2)
    return figure


def _campaigns(campaigns: list[dict]) -> go.Figure:
    titles = ("Sent per campaign", "Human opens and clicks / delivered")
    figure = make_subplots(rows=1, cols=2, subplot_titles=titles)
    figure.update_layout(**LAYOUT)
    names = [r["campaign"] for r in campaigns]
    figure.add_bar(x=names, y=[r["sent"] for r in campaigns], name="sent", row=1, col=1)
    for column, name in (("unique_human_open_rate_of_delivered", "human open rate"),
                         ("unique_human_click_rate_of_delivered", "human click rate")):  # fmt: skip
        figure.add_bar(x=names, y=[r[column] for r in campaigns], name=name, row=1, col=2)
    figure.update_xaxes(type="category")
    figure.update_yaxes(tickformat=".0%", row=1, col=2)
    return figure


def _local_hours(hourly: list[dict]) -> go.Figure:
    """Inbound mail by local weekday × hour (the tenant's time zone): when customers write."""
    counts = [[0] * 24 for _ in WEEKDAYS]
    for r in hourly:
        counts[r["weekday"] - 1][r["hour"]] = r["inbound_messages"]
    figure = go.Figure(layout={**LAYOUT, "title": "Inbound mail by local weekday and hour"})
    figure.add_heatmap(z=counts, x=list(range(24)), y=list(WEEKDAYS), colorscale="Blues", name="inbound")
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(title_text="local hour", dtick=2)
    return figure


def _response(response: list[dict]) -> go.Figure:
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.update_layout(**LAYOUT, title="Threads opened, answered, and first response time")
    days = [r["day"] for r in response]
    figure.add_bar(x=days, y=[r["threads_opened"] for r in response], name="threads opened")
    figure.add_bar(x=days, y=[r["threads_answered"] for r in response], name="answered")
    for column, name in (("median_first_response_hours", "median first response (h)"),
                         ("p90_first_response_hours", "p90 first response (h)")):  # fmt: skip
        figure.add_scatter(x=days, y=[r[column] for r in response], name=name, mode="lines+markers", secondary_y=True)
    figure.update_yaxes(title_text="hours", secondary_y=True, rangemode="tozero")
    return figure


def _backlog(helpdesk: list[dict]) -> go.Figure:
    figure = go.Figure(layout={**LAYOUT, "title": "Backlog at each day's end, by waiting time, and SLA breaches",
                               "barmode": "stack"})  # fmt: skip
    days = [r["day"] for r in helpdesk]
    for column, name in (("waiting_under_4h", "waiting < 4 h"), ("waiting_4h_to_24h", "4–24 h"),
                         ("waiting_1d_to_3d", "1–3 days"), ("waiting_over_3d", "> 3 days")):  # fmt: skip
        figure.add_bar(x=days, y=[r[column] for r in helpdesk], name=name)
    figure.add_scatter(x=days, y=[r["first_response_sla_breaches"] for r in helpdesk], name="first responses late",
                       mode="lines+markers")  # fmt: skip
    return figure


def _costs(costs: list[dict]) -> go.Figure:
    figure = go.Figure(
        layout={
            **LAYOUT,
            "title": "Estimated SES cost per month (USD)",
            "barmode": "stack",
            "xaxis": {"type": "category"},
        }
    )
    months = [f"{r['month']:%Y-%m}" for r in costs]
    for column, name in (("outbound_usd", "outbound"), ("attachments_usd", "attachments"), ("inbound_usd", "inbound")):
        figure.add_bar(x=months, y=[r[column] for r in costs], name=name)
    return figure


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"
