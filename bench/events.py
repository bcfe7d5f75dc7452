"""SES event ingest throughput against DuckDB's own read_json of the same files, in the same run.

    .venv/bin/python bench/events.py [--messages 20000] [--dir /tmp/seslake-bench]

Each side runs in its own child process, which reports its own peak memory (`VmHWM`: unlike
`ru_maxrss`, it starts afresh at exec, so a child does not report the peak of the parent that
generated the archive):
- DuckDB `read_json` (newline-delimited, explicit columns, gzip by extension), three ways:
  `count`: counting the records, top-level columns typed JSON (DuckDB need not build any column);
  `load`: the same columns loaded into a table;
  `typed`: loaded with typed nested columns for the fields seslake keeps (the same extraction);
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
TARGET_RATIO = 0.4
"""seslake's records per second over DuckDB's bare count of the same files (extraction and writing
included, about 0.5× is the ceiling)."""
MEMORY_TARGET_MB = 512
COLUMNS = {
    "eventType": "VARCHAR", "notificationType": "VARCHAR", "mail": "JSON", "send": "JSON", "delivery": "JSON",
    "bounce": "JSON", "complaint": "JSON", "reject": "JSON", "open": "JSON", "click": "JSON", "failure": "JSON",
    "deliveryDelay": "JSON", "subscription": "JSON",
}  # fmt: skip


def _ddl(structure: object) -> str:
    """A json_transform structure as a DuckDB type."""
    if isinstance(structure, dict):
        return "STRUCT(" + ", ".join(f'"{key}" {_ddl(value)}' for key, value in structure.items()) + ")"
    if isinstance(structure, list):
        return _ddl(structure[0]) + "[]"
    return str(structure)


def run_duckdb(archive: Path, way: str) -> dict:
    import duckdb

    from pipelines.events.bulk import DETAIL_STRUCTURE, EVENT_STRUCTURE

    files = [str(p) for p in sorted((archive / "events").rglob("*")) if p.is_file()]
    read = "read_json(?, format = 'newline_delimited', columns = ?, ignore_errors = true)"
    columns = COLUMNS
    if way == "typed":
        columns = {key: _ddl(DETAIL_STRUCTURE if value == "JSON" else value) for key, value in EVENT_STRUCTURE.items()}
    query = f"select count(*) from {read}" if way == "count" else f"create table events as select * from {read}"
    connection = duckdb.connect()
    started = time.perf_counter()
    connection.execute(query, [files, columns]).fetchall()
    seconds = time.perf_counter() - started
    rows = connection.execute("select count(*) from events").fetchall()[0][0] if way != "count" else None
    if way == "count":
        rows = connection.execute(f"select count(*) from {read}", [files, columns]).fetchall()[0][0]
    return {"records": rows, "seconds": seconds}


def run_seslake(archive: Path) -> dict:
    from pipelines.events.ingest import ingest_events
    from pipelines.storage.lake import Lake
    from pipelines.storage.objects import LocalStore
    from pipelines.tenants import load_registry

    registry = load_registry(str(archive / "tenants.yaml"))
    with tempfile.TemporaryDirectory() as lake_dir:
        started = time.perf_counter()
        result = ingest_events(LocalStore(archive), Lake(LocalStore(lake_dir)), registry, "events/", full_rebuild=True)
        seconds = time.perf_counter() - started
    records = result.rows_new + result.rows_duplicate + result.lines_bad + result.unattributed
    return {"records": records, "events": result.rows_new, "seconds": seconds}


def peak_memory_mb() -> float:
    """This process's peak resident memory since exec, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(phase: str, archive: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--archive", str(archive)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_phase(phase: str, archive: Path) -> dict:
    figures = run_seslake(archive) if phase == "seslake" else run_duckdb(archive, phase.removeprefix("duckdb-"))
    figures["peak_mb"] = peak_memory_mb()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "seslake-bench")
    parser.add_argument("--phase", choices=["duckdb-count", "duckdb-load", "duckdb-typed", "seslake"],
                        help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument("--archive", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.archive)))
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
    baselines = {
        "count": ("DuckDB read_json, JSON columns, count", child("duckdb-count", archive)),
        "load": ("DuckDB read_json, JSON columns, loaded", child("duckdb-load", archive)),
        "typed": ("DuckDB read_json, typed fields, loaded", child("duckdb-typed", archive)),
    }
    ours = child("seslake", archive)
    for label, figures in [*baselines.values(), ("seslake events → lake", ours)]:
        rate = figures["records"] / figures["seconds"]
        print(f"{label:<40}{figures['records']:>9} records {figures['seconds']:7.2f} s {rate:10.0f} rec/s"
              f"   peak RSS {figures['peak_mb']:6.0f} MB")  # fmt: skip
    our_rate = ours["records"] / ours["seconds"]
    for label, figures in baselines.values():
        print(f"seslake / {label}: {our_rate / (figures['records'] / figures['seconds']):.2f}×")
    print(f"target ≥ {TARGET_RATIO}× DuckDB's count, peak under {MEMORY_TARGET_MB} MB")
    print(f"distinct events kept: {ours['events']}")


if __name__ == "__main__":
    main()
