"""The HTML report opens in a real headless Chromium without a script error or a network fetch, draws every
chart, and its screenshot is not blank."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from PIL import Image

from pipelines.cli.main import main
from pipelines.report.page import write_report

CHARTS_PER_TENANT = 9
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--enable-logging=stderr",
    "--v=0", "--virtual-time-budget=15000",
]  # fmt: skip
"""Headless, and no background connection of Chromium's own (this machine's network is closed)."""


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "Chromium is needed (Debian package `chromium`; .ci/run installs it)"
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip


@pytest.fixture(scope="module")
def report(small_warehouse, tmp_path_factory) -> tuple[Path, list[str]]:
    path = write_report(small_warehouse, tmp_path_factory.mktemp("report") / "report.html")
    with duckdb.connect(str(small_warehouse), read_only=True) as connection:
        tenants = [row[0] for row in connection.execute("select tenant_id from tenant_summary order by 1").fetchall()]
    return path, tenants


def test_the_page_is_self_contained(report):
    path, _ = report
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|@import|url\(http", text)
    assert "Plotly" in text


def test_every_chart_renders_without_errors(report, tmp_path):
    path, tenants = report
    done = chromium(path, tmp_path / "profile", "--dump-dom")
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if re.search(r"error|uncaught", line, re.IGNORECASE)], console
    assert tenants and all(f"<h2>{tenant}</h2>" in done.stdout for tenant in tenants)
    # Plotly draws each chart into a <div class="plot-container plotly"> holding its SVG layers
    assert done.stdout.count('class="plot-container plotly"') == CHARTS_PER_TENANT * len(tenants)
    charts = done.stdout.split('class="plot-container plotly"')[1:]
    # every chart drew marks: scatter or bar traces, or the heatmap's image
    drawn = [chart for chart in charts if re.search(r'class="trace (scatter|bars)|class="hm"[^>]*>\s*<image', chart)]
    assert len(drawn) == len(charts)


def test_the_screenshot_is_not_blank(report, tmp_path):
    path, _ = report
    shot = tmp_path / "report.png"
    chromium(path, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,2400")
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200  # text, tiles and chart lines, not a blank page
    background = max(colours)[0] / (image.width * image.height)
    assert background < 0.9


def test_the_cli_writes_one_tenants_report(small_warehouse, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SESLAKE_WAREHOUSE", str(small_warehouse))
    with duckdb.connect(str(small_warehouse), read_only=True) as connection:
        first, second = (r[0] for r in connection.execute("select id from tenants order by 1 limit 2").fetchall())
    assert main(["report", "--html", str(tmp_path / "one.html"), "--tenant", first]) == 0
    assert "works offline" in capsys.readouterr().out
    text = (tmp_path / "one.html").read_text(encoding="utf-8")
    assert f"<h2>{first}</h2>" in text and f"<h2>{second}</h2>" not in text
    assert main(["report", "--html", str(tmp_path / "none.html"), "--tenant", "nobody"]) == 2
