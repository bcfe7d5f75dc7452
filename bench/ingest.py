"""MIME ingest throughput against baselines measured in the same run.

    .venv/bin/python bench/ingest.py [--messages 20000] [--dir /tmp/seslake-bench]

Generates (once, seeded) a realistic archive, warms the page cache, then measures on the same
inbound objects: reading the bytes only, stdlib `email.message_from_bytes` (compat32), seslake's
`parse_message` alone in this process (the parser's share, the floor of the per-message path), and the
ingest end-to-end on one and on two worker processes. The ingest is what the `lake/inbound_mail` asset
runs for a single-run backfill of the archive's days: `ingest_mime` with the partition days,
`include_earlier=True` (the range starts at the first partition), the settings' guard, into a fresh lake
(so its first run lists the bucket and fills the arrivals index). Then, on that lake, one day again as a
daily run does (the arrivals index, no listing) and with `relist=True` (a full listing). Prints messages/s
and MB/s for each and the ratios, plus the slowest single message through the parser.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.generator import generate_archive, messages_per_day_for  # noqa: E402
from pipelines.mail.ingest import IngestResult, ingest_mime  # noqa: E402
from pipelines.mail.sandbox import ParseGuard  # noqa: E402
from pipelines.mail.selection import select_days  # noqa: E402
from pipelines.mime.message import MimeParseError  # noqa: E402
from pipelines.mime.parse import parse_message  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.storage.lake import Lake  # noqa: E402
from pipelines.storage.objects import LocalStore  # noqa: E402
from pipelines.storage.schemas import INBOUND  # noqa: E402
from pipelines.tenants import load_registry  # noqa: E402

TENANTS, DAYS = 10, 30


def timed(label: str, count: int, megabytes: float, func) -> float:
    started = time.perf_counter()
    func()
    seconds = time.perf_counter() - started
    print(f"{label:<44}{seconds:8.2f} s {count / seconds:10.0f} msg/s {megabytes / seconds:8.1f} MB/s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000, help="inbound messages to generate")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "seslake-bench")
    args = parser.parse_args()

    archive = args.dir / f"archive-{args.messages}"
    if not (archive / "tenants.yaml").exists():
        print(f"generating {args.messages} messages into {archive} …")
        per_day = messages_per_day_for(args.messages, TENANTS, DAYS)
        generate_archive(archive, tenants=TENANTS, days=DAYS, seed=1, messages_per_day=per_day)
    store = LocalStore(archive)
    registry = load_registry(str(archive / "tenants.yaml"))
    objects = list(store.list("inbound/"))
    count, megabytes = len(objects), sum(o.size for o in objects) / 1e6
    print(f"{count} inbound objects, {megabytes:.0f} MB, {os.cpu_count()} cores; page cache warmed by a first read")

    def read_all() -> None:
        for info in objects:
            store.get(info.key)

    def stdlib_all() -> None:
        for info in objects:
            email.message_from_bytes(store.get(info.key))

    days = sorted({info.day for info in objects})
    partition_days = [days[0] + timedelta(days=i) for i in range((days[-1] - days[0]).days + 1)]
    guard = ParseGuard.from_settings(Settings.from_env())

    def ingest(lake: Lake, workers: int | None, run_days: list[date], **options) -> IngestResult:
        """`ingest_mime` with the arguments the mail asset passes."""
        return ingest_mime(
            store, lake, registry, INBOUND, "inbound/", run_days, tenants=None, guard=guard, workers=workers, **options
        )

    def find(lake: Lake, day: date, relist: bool = False) -> None:
        """What a run of `day` does before parsing: select the day's objects."""
        selection = select_days(store, lake, INBOUND, "inbound/", [day], relist=relist)
        for _ in selection.by_day():
            pass

    def parse_all() -> None:
        for info in objects:
            with contextlib.suppress(MimeParseError):
                parse_message(store.get(info.key))

    def backfill(workers: int) -> None:
        with tempfile.TemporaryDirectory() as lake_dir:
            ingest(Lake(LocalStore(lake_dir)), workers, partition_days, include_earlier=True)

    read_all()
    read = timed("read bytes only (baseline)", count, megabytes, read_all)
    stdlib = timed("stdlib email.message_from_bytes (compat32)", count, megabytes, stdlib_all)
    parse = timed("seslake parse_message alone, this process", count, megabytes, parse_all)
    one = timed("seslake ingest end-to-end, 1 process", count, megabytes, lambda: backfill(1))
    two = timed("seslake ingest end-to-end, 2 processes", count, megabytes, lambda: backfill(2))

    with tempfile.TemporaryDirectory() as lake_dir:
        lake = Lake(LocalStore(lake_dir))
        ingest(lake, None, partition_days, include_earlier=True)
        day = days[len(days) // 2]
        day_count = sum(1 for info in objects if info.day == day)
        day_mb = sum(info.size for info in objects if info.day == day) / 1e6
        indexed = timed(
            f"one day ({day}), objects from the index", day_count, day_mb, lambda: ingest(lake, None, [day])
        )
        listed = timed(
            f"one day ({day}), objects from a full listing",
            day_count,
            day_mb,
            lambda: ingest(lake, None, [day], relist=True),
        )
        find_indexed = timed(
            f"finding one day's {day_count} objects: index", day_count, day_mb, lambda: find(lake, day)
        )
        find_listed = timed(
            f"finding one day's {day_count} objects: full listing",
            day_count,
            day_mb,
            lambda: find(lake, day, relist=True),
        )

    slowest, slowest_key, parsers = 0.0, "", {}
    for info in objects:
        raw = store.get(info.key)
        started = time.perf_counter()
        try:
            path = parse_message(raw).parser
        except MimeParseError:
            path = "rejected"
        elapsed = time.perf_counter() - started
        parsers[path] = parsers.get(path, 0) + 1
        if elapsed > slowest:
            slowest, slowest_key = elapsed, info.key
    print()
    print(f"ingest 1 process  vs read-only baseline: {read / one:6.3f}×   vs stdlib: {stdlib / one:6.2f}× (target ≥ 4)")
    print(f"parse_message alone vs stdlib parse:      {stdlib / parse:6.2f}×   (parse / ingest: {parse / one:.0%})")
    print(f"ingest 2 processes vs 1 process:          {one / two:6.2f}× (target ≥ 1.8)")
    print(f"one day from the index vs with a full listing: {listed / indexed:6.2f}× (finding its objects: "
          f"{find_listed / find_indexed:.0f}×)")  # fmt: skip
    print(f"per core: {count / one:.0f} msg/s (target ≥ 4000); 2 processes: {count / two:.0f} msg/s")
    print(f"slowest single message parse: {slowest * 1000:.1f} ms ({slowest_key}); paths: {parsers}")


if __name__ == "__main__":
    main()
