"""Warehouse refresh cost against lake size: a full build and the refresh after one new day, on a lake of N
days and one of FACTOR × N days, in the same run.

    .venv/bin/python bench/warehouse.py [--days 6] [--factor 10] [--tenants 3] [--messages 20] [--seed 7] [--repeats 3]

For each size a deterministic archive of days + 1 days is generated (seeded) and all but its last day are
ingested into a lake (mail, the event files that arrived by then, threading), both cached under
`$TMPDIR/seslake-bench/warehouse-…` between runs. The run restores the cached lake, builds the warehouse whole
(timed), ingests the last day (mail of that day, the remaining event files, threading: untimed), then
refreshes a copy of the first build `--repeats` times (timed; median), and once more builds whole for
comparison. It prints the times, the file copy's share, the Parquet files each read, the file's size before
and after the refresh, and the ratios
large / small (target for the refresh: ≤ 1.3×) and refresh / full build.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.events.ingest import ingest_events  # noqa: E402
from pipelines.generator import generate_archive  # noqa: E402
from pipelines.mail.ingest import ingest_mime  # noqa: E402
from pipelines.storage.lake import Lake  # noqa: E402
from pipelines.storage.objects import LocalStore  # noqa: E402
from pipelines.storage.schemas import INBOUND, OUTBOUND  # noqa: E402
from pipelines.tenants import TenantRegistry, load_registry  # noqa: E402
from pipelines.threads.lake import thread_lake  # noqa: E402
from pipelines.warehouse.build import INCREMENTAL, build_warehouse  # noqa: E402
from pipelines.warehouse.refresh import refresh_warehouse  # noqa: E402

START = date(2026, 1, 1)
CACHE = Path(tempfile.gettempdir()) / "seslake-bench"


def arrival_day(path: Path) -> date:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).date()


def ingest(archive: Path, events: Path, lake: Lake, registry: TenantRegistry, days: list[date]) -> None:
    """Mail of `days`, the new event files under `events`, then threading: what the assets do."""
    for direction in (INBOUND, OUTBOUND):
        ingest_mime(LocalStore(archive), lake, registry, direction, f"{direction}/", days)
    ingest_events(LocalStore(events), lake, registry, "events/")
    thread_lake(lake, inbound_domains=sorted(registry.inbound_domains))


def copy_events(archive: Path, events: Path, until: date | None) -> None:
    """Copy the archive's event files that arrived up to `until` (all for None), keeping their times."""
    for path in sorted((archive / "events").rglob("*")):
        if path.is_file() and (until is None or arrival_day(path) <= until):
            target = events / path.relative_to(archive)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def cached_lake(days: int, args: argparse.Namespace) -> Path:
    """A folder with `archive/` (days + 1 days), and `lake-base/` and `events-base/`: the lake with everything
    of the first `days` days ingested and threaded, and the event files it read; made once. A run restores
    them to `lake/` and `events/`, where they were made, so the lake keeps its URL (its threading state is
    the lake's)."""
    folder = CACHE / f"warehouse-{args.tenants}t-{days}d-{args.messages}m-s{args.seed}"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        archive = folder / "archive"
        generate_archive(archive, tenants=args.tenants, days=days + 1, seed=args.seed, start=START,
                         messages_per_day=args.messages)  # fmt: skip
        copy_events(archive, folder / "events", START + timedelta(days=days - 1))
        registry = load_registry(str(archive / "tenants.yaml"))
        ingest(archive, folder / "events", Lake(LocalStore(folder / "lake")), registry,
               [START + timedelta(days=d) for d in range(days)])  # fmt: skip
        shutil.copytree(folder / "lake", folder / "lake-base")
        shutil.copytree(folder / "events", folder / "events-base")
        (folder / "done").write_text("")
    for name in ("lake", "events"):
        shutil.rmtree(folder / name, ignore_errors=True)
        shutil.copytree(folder / f"{name}-base", folder / name)
    return folder


def measure(days: int, args: argparse.Namespace, work: Path) -> dict[str, float]:
    folder = cached_lake(days, args)
    archive = folder / "archive"
    registry = load_registry(str(archive / "tenants.yaml"))
    lake = Lake(LocalStore(folder / "lake"))
    base = work / "base.duckdb"
    full = build_warehouse(lake, registry, base)
    new_day = START + timedelta(days=days)
    copy_events(archive, folder / "events", None)
    later = sorted({arrival_day(p) for p in archive.rglob("*.eml") if arrival_day(p) >= new_day})
    ingest(archive, folder / "events", lake, registry, later)
    refreshes = []
    for _ in range(args.repeats):
        target = work / "warehouse.duckdb"
        shutil.copyfile(base, target)
        refreshes.append(refresh_warehouse(lake, registry, target))
    assert all(r.mode == INCREMENTAL for r in refreshes), [r.reason for r in refreshes]
    again = build_warehouse(lake, registry, work / "rebuilt.duckdb")
    refresh = statistics.median(r.seconds for r in refreshes)
    return {
        "days": days,
        "messages": again.row_counts["messages"],
        "events": again.row_counts["events"],
        "file_mb": base.stat().st_size / 1e6,
        "refreshed_mb": refreshes[-1].path.stat().st_size / 1e6,
        "full_seconds": full.seconds,
        "full_files": full.files_read,
        "rebuild_seconds": again.seconds,
        "refresh_seconds": refresh,
        "copy_seconds": statistics.median(r.copy_seconds for r in refreshes),
        "refresh_files": refreshes[0].files_read,
        "changed_days": refreshes[0].changed_days,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--messages", type=int, default=20, help="inbound messages per tenant per day")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = []
    for days in (args.days, args.days * args.factor):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="seslake-bench-warehouse-") as work:
            results.append(measure(days, args, Path(work)))
        print(f"measured {days} days in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(f"{'days':>5} {'messages':>9} {'events':>8} {'file MB':>8} {'full s':>7} {'files':>6} "
          f"{'refresh s':>9} {'copy s':>7} {'files':>6} {'refreshed MB':>12} {'refresh/full':>12}")  # fmt: skip
    for r in results:
        print(
            f"{r['days']:>5} {r['messages']:>9} {r['events']:>8} {r['file_mb']:>8.1f} {r['rebuild_seconds']:>7.2f} "
            f"{r['full_files']:>6} {r['refresh_seconds']:>9.3f} {r['copy_seconds']:>7.3f} {r['refresh_files']:>6} "
            f"{r['refreshed_mb']:>12.1f} {r['refresh_seconds'] / r['rebuild_seconds']:>12.2f}"
        )
    for r in results:
        changed = ", ".join(f"{table} {len(days)}" for table, days in r["changed_days"].items())
        print(f"{r['days']:>5} days: changed days per lake table: {changed}")
    small, large = results
    print(f"large / small: full build {large['rebuild_seconds'] / small['rebuild_seconds']:.2f}x, "
          f"refresh of one new day {large['refresh_seconds'] / small['refresh_seconds']:.2f}x (target <= 1.3x), "
          f"file copy {large['copy_seconds'] / max(small['copy_seconds'], 1e-9):.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
