"""`seslake materialize` records its runs in the project's Dagster instance, and `seslake ui` serves the UI on
that instance: what the command did is what the UI shows."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import requests

from pipelines.generator import generate_archive

SESLAKE = Path(sys.executable).parent / "seslake"
QUERY = """{ assetOrError(assetKey: {path: ["lake", "message_threads"]}) {
  ... on Asset { assetMaterializations(limit: 5) { runId metadataEntries { label } } } } }"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_ui_shows_what_materialize_did(tmp_path):
    generate_archive(tmp_path / "bucket", tenants=2, days=2, seed=5, start=date(2026, 10, 1), messages_per_day=4)
    env = {**os.environ, "SESLAKE_SOURCE": str(tmp_path / "bucket"), "SESLAKE_LAKE": str(tmp_path / "lake"),
           "SESLAKE_WAREHOUSE": str(tmp_path / "data" / "warehouse.duckdb"), "SESLAKE_START_DATE": "2026-10-01",
           "SESLAKE_HANDOFF_LEDGER": str(tmp_path / "handoff.sqlite")}  # fmt: skip
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run([str(SESLAKE), "materialize"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    home = tmp_path / "data" / "dagster_home"
    assert f"Dagster instance {home}" in done.stdout
    assert (home / "dagster.yaml").exists() and (home / "history").is_dir()

    port = _free_port()
    ui = subprocess.Popen([str(SESLAKE), "ui", "--port", str(port)], env=env, cwd=tmp_path, start_new_session=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        answer = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and ui.poll() is None:
            try:
                reply = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}, timeout=10)
                if reply.ok and reply.json().get("data", {}).get("assetOrError", {}).get("assetMaterializations"):
                    answer = reply.json()
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        assert answer is not None, f"the UI never answered with the materialization (exit {ui.poll()})"
        materializations = answer["data"]["assetOrError"]["assetMaterializations"]
        assert {entry["label"] for entry in materializations[0]["metadataEntries"]} >= {"messages_threaded"}
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGTERM)
            try:
                ui.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(ui.pid, signal.SIGKILL)
