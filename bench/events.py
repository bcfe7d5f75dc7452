"""SES event ingest throughput against DuckDB's own read_json of the same files, in the same run.

    .venv/bin/python bench/events.py [--messages 20000] [--dir /tmp/seslake-bench]

Each side runs in its own child process so its peak memory (max RSS) is its own:
- baseline: DuckDB `read_json` (newline-delimited, explicit columns, gzip by extension) counting rows;
- seslake: `ingest_events(full_rebuild=True)` — parse, normalize, fingerprint dedupe, tenant
  attribution, quarantine and Parquet partitions by event date.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TENANTS, DAYS = 10, 30
COLUMNS = {
    "eventType": "VARCHAR", "notificationType": "VARCHAR", "mail": "JSON", "send": "JSON", "delivery": "JSON",
    "bounce": "JSON", "complaint": "JSON", "reject": "JSON", "open": "JSON", "click": "JSON", "failure": "JSON",
    "deliveryDelay": "JSON", "subscription": "JSON",
}  # fmt: skip


def run_duckdb(archive: Path) -> dict:
    import duckdb

    files = [str(p) for p in sorted((archive / "events").rglob("*")) if p.is_file()]
    started = time.perf_counter()
    rows = duckdb.sql(
        "select count(*) from read_json(?, format = 'newline_delimited', columns = ?, ignore_errors = true)",
        params=[files, COLUMNS],
    ).fetchall()[0][0]
    return {"records": rows, "seconds": time.perf_counter() - started}


def run_seslake(archive: Path) -> dict:
    from pipelines.ingest_events import ingest_events
    from pipelines.lake import Lake
    from pipelines.objects import LocalStore
    from pipelines.tenants import load_registry

    registry = load_registry(str(archive / "tenants.yaml"))
    with tempfile.TemporaryDirectory() as lake_dir:
        started = time.perf_counter()
        result = ingest_events(LocalStore(archive), Lake(LocalStore(lake_dir)), registry, "events/", full_rebuild=True)
        seconds = time.perf_counter() - started
    records = result.rows_new + result.rows_duplicate + result.lines_bad + result.unattributed
    return {"records": records, "events": result.rows_new, "seconds": seconds}


def child(phase: str, archive: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--archive", str(archive)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "seslake-bench")
    parser.add_argument("--phase", choices=["duckdb", "seslake"], help=argparse.SUPPRESS)
    parser.add_argument("--archive", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps((run_duckdb if args.phase == "duckdb" else run_seslake)(args.archive)))
        return

    from pipelines.generator import generate_archive, messages_per_day_for

    archive = args.dir / f"archive-{args.messages}"
    if not (archive / "tenants.yaml").exists():
        print(f"generating {args.messages} messages into {archive} …")
        generate_archive(archive, tenants=TENANTS, days=DAYS, seed=1,
                         messages_per_day=messages_per_day_for(args.messages, TENANTS, DAYS))  # fmt: skip
    files = [p for p in (archive / "events").rglob("*") if p.is_file()]
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    print(f"{len(files)} Firehose files, {megabytes:.0f} MB on disk ({sum(p.suffix == '.gz' for p in files)} gzip)")
    baseline = child("duckdb", archive)
    ours = child("seslake", archive)
    for label, figures in (("DuckDB read_json, explicit columns", baseline), ("seslake events → lake", ours)):
        rate = figures["records"] / figures["seconds"]
        print(f"{label:<38}{figures['records']:>9} records {figures['seconds']:7.2f} s {rate:10.0f} rec/s"
              f"   peak RSS so far {figures['peak_mb']:.0f} MB")  # fmt: skip
    ratio = (ours["records"] / ours["seconds"]) / (baseline["records"] / baseline["seconds"])
    print(f"seslake / DuckDB rate: {ratio:.2f}× (target ≥ 0.7×); distinct events kept: {ours['events']}")


if __name__ == "__main__":
    main()
