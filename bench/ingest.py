"""MIME ingest throughput against baselines measured in the same run.

    .venv/bin/python bench/ingest.py [--messages 20000] [--dir /tmp/seslake-bench]

Generates (once, seeded) a realistic archive, warms the page cache, then measures on the same
inbound objects: reading the bytes only, stdlib `email.message_from_bytes` (compat32), and the
seslake ingest end-to-end (parse, attribute, Parquet) on one and on two worker processes. Prints
messages/s and MB/s for each and the ratios, plus the slowest single message through the parser.
"""

from __future__ import annotations

import argparse
import email
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.generator import generate_archive, messages_per_day_for  # noqa: E402
from pipelines.mail.ingest import ingest_mime  # noqa: E402
from pipelines.mime.message import MimeParseError  # noqa: E402
from pipelines.mime.parse import parse_message  # noqa: E402
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

    def ingest(workers: int) -> None:
        with tempfile.TemporaryDirectory() as lake_dir:
            ingest_mime(store, Lake(LocalStore(lake_dir)), registry, INBOUND, "inbound/", None, workers=workers)

    read_all()
    read = timed("read bytes only (baseline)", count, megabytes, read_all)
    stdlib = timed("stdlib email.message_from_bytes (compat32)", count, megabytes, stdlib_all)
    one = timed("seslake ingest end-to-end, 1 process", count, megabytes, lambda: ingest(1))
    two = timed("seslake ingest end-to-end, 2 processes", count, megabytes, lambda: ingest(2))

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
    print(f"ingest 1 process  vs read-only baseline: {read / one:6.3f}×   vs stdlib parse: {stdlib / one:6.2f}×")
    print(f"ingest 2 processes vs 1 process:          {one / two:6.2f}×")
    print(f"per core: {count / one:.0f} msg/s (target ≥ 4000); 2 processes: {count / two:.0f} msg/s")
    print(f"slowest single message parse: {slowest * 1000:.1f} ms ({slowest_key}); paths: {parsers}")


if __name__ == "__main__":
    main()
