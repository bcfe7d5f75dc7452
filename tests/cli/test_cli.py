"""`seslake` end to end in a subprocess: the demo on a fresh source, clear failures otherwise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SESLAKE = str(Path(sys.executable).parent / "seslake")


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "SESLAKE_SOURCE": str(tmp_path / "bucket"),
        "SESLAKE_LAKE": str(tmp_path / "lake"),
        "SESLAKE_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "SESLAKE_HANDOFF_LEDGER": str(tmp_path / "handoff.sqlite"),
        **env,
    }
    environment.pop("DAGSTER_HOME", None)
    return subprocess.run([SESLAKE, *args], env=environment, capture_output=True, text=True, timeout=300)


def test_demo_generates_materializes_and_summarizes(tmp_path):
    done = run(["demo", "--days", "3", "--tenants", "2"], tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "is empty: generating a demo archive" in out
    assert "materializing lake/inbound_mail" in out
    assert re.search(r"\n  inbound mail: \S+ parsed \(day \d+ of \d+; \d+ messages", out)
    assert re.search(r"\n  events: (\d+) of \1 new files read", out)
    assert "caminos" in out and "quarantined:" in out
    assert str(tmp_path / "lake") in out
    assert list((tmp_path / "lake" / "messages").glob("tenant=caminos/date=*/inbound.parquet"))
    assert "materializing warehouse_models (" in out and "reputation" in out

    report = run(["report", "--tenant", "caminos"], tmp_path)
    assert report.returncode == 0, report.stderr
    assert str(tmp_path / "warehouse.duckdb") in report.stdout
    tables = report.stdout.split("\n\n")
    assert [t.strip().splitlines()[0].split(" (")[0] for t in tables if t.strip()][:4] == [
        "Summary", "Mailbox providers", "Campaigns", "Help desk"
    ]  # fmt: skip
    rows = [line.split() for table in tables for line in table.strip("\n").splitlines()[2:] if line.startswith("  ")]
    assert rows and {row[0] for row in rows} == {"caminos"}  # only the tenant asked for

    handed = re.search(r"stub: (\d+) accepted, (\d+) distinct event ids, 0 bad signatures", out)
    assert handed and int(handed[1]) == int(handed[2]) > 0, out
    assert out.count("  thread ") == int(handed[2])

    again = run(["demo", "--days", "3", "--tenants", "2"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "generating" not in again.stdout

    def summary(text: str) -> list[str]:
        return text.split("materializing")[-1].split("reply-service stub")[0].splitlines()[2:]

    assert summary(again.stdout) == summary(out)
    assert "stub: 0 accepted" in again.stdout  # already handed off: the ledger does not send them twice


def test_materialize_fails_clearly_on_a_bad_registry(tmp_path):
    (tmp_path / "bucket").mkdir()
    (tmp_path / "bucket" / "tenants.yaml").write_text("tenants:\n  - id: a\n    name: A\n    inbound_addresses: [x]\n")
    done = run(["materialize"], tmp_path)
    assert done.returncode == 2
    assert "tenant #1 (a): 'inbound_addresses' has an invalid address 'x'" in done.stderr
    assert "Traceback" not in done.stderr


def test_materialize_fails_clearly_without_a_registry(tmp_path):
    done = run(["materialize"], tmp_path)
    assert done.returncode == 2
    assert "tenant registry not found" in done.stderr


def test_report_without_a_warehouse_fails_clearly(tmp_path):
    done = run(["report"], tmp_path)
    assert done.returncode == 2 and "run `seslake materialize` first" in done.stderr
