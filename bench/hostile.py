"""The MIME parser on hostile mail: time and memory per family, against ordinary mail of the same size.

    .venv/bin/python bench/hostile.py [--quick] [--families nesting,part_count] [--repeats 3]
                                      [--timeout 120] [--events] [--materialize [--days 10]] [--fuzz N]

For each family of `pipelines.generator.hostile_mail` the message is built at sizes n, 2n and 4n
(default n = 2.5 MB, so up to 10 MB; `--quick`: n = 64 KB; `stream_lines` starts above the 8 MB
streaming threshold) and an ordinary message (text, HTML, base64 attachment) is built at each size
too. Every measurement is a fresh child process that reads the message from a file and parses it once
with `parse_message`: its wall time (the best of `--repeats` children) and its peak RSS (total, and
the growth over the RSS just before the parse). A child that exceeds `--timeout` seconds is killed and
reported as such, one that dies of a signal as a crash.

Printed: a table per family and size (time, ratio to the ordinary message of that size, peak memory,
parser path and warnings), then per family the growth exponent (least-squares slope of log time against
log size; linear is 1.0, the target is at most 1.2), the worst single-object time for objects up to
10 MB (target at most 2 s) and the largest peak memory (target at most 512 MB).
`--events` measures the events ingest on hostile Firehose files the same way (one file per child, through
`ingest_events`: gzip bombs, enormous lines, corrupt and truncated gzip, non-UTF-8 lines, at n, 2n and 4n
decompressed bytes, n = 40 MB). `--materialize` builds a generated archive (3 tenants, `--days` days),
salts a copy with one object of every hostile mail family (1 MB each) and the hostile event files (a
150 MB bomb), and runs `seslake materialize` on both, alternating, `--repeats` times: the salted bucket
should take at most 1.5× the clean one. `--fuzz N` runs the property tests N times longer with fresh
random examples.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.generator.hostile_mail import FAMILIES, MINIMUM_SIZE, ordinary  # noqa: E402

DEFAULT_N = 2_500_000
QUICK_N = 64_000
SMALL_OBJECT = 10_000_000
"""The worst-time target applies to objects up to this size."""
TIME_TARGET, MEMORY_TARGET_MB, EXPONENT_TARGET = 2.0, 512, 1.2


def memory_mb(field: str) -> float:
    """`VmRSS` (resident now) or `VmHWM` (peak) of this process, in MB. Unlike `ru_maxrss`, the peak
    starts afresh at exec, so a child does not report its parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: Path) -> None:
    """Parse the message at `path` once and print what it cost as one JSON line."""
    from pipelines.mime import parse
    from pipelines.mime.message import MimeParseError

    raw = path.read_bytes()
    before = memory_mb("VmRSS")
    started = time.perf_counter()
    try:
        message = parse.parse_message(raw)
        outcome = message.parser + (" " + ",".join(message.warnings) if message.warnings else "")
    except MimeParseError as exc:
        outcome = f"refused: {exc}"
    except Exception as exc:  # noqa: BLE001 - a parser bug is a result to report, as the ingest quarantines it
        outcome = f"parser error: {type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    peak = memory_mb("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "growth_mb": peak - before, "outcome": outcome}))


def measure(raw: bytes, repeats: int, timeout: float, mode: str = "--child") -> dict:
    """The best of `repeats` child processes parsing `raw`, or why none finished."""
    with tempfile.NamedTemporaryFile(suffix=".eml") as fh:
        fh.write(raw)
        fh.flush()
        best: dict | None = None
        for _ in range(repeats):
            command = [sys.executable, __file__, mode, fh.name]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                return {"failed": f"timeout > {timeout:.0f} s"}
            if done.returncode < 0:
                return {"failed": f"crash ({signal.Signals(-done.returncode).name})"}
            if done.returncode != 0:
                return {"failed": "error: " + (done.stderr.strip().splitlines() or ["?"])[-1][:80]}
            result = json.loads(done.stdout.strip().splitlines()[-1])
            if best is None or result["seconds"] < best["seconds"]:
                best = {**result, "peak_mb": max(result["peak_mb"], (best or result)["peak_mb"])}
        assert best is not None
        return best


def exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(time) against log(size)."""
    usable = [(math.log(size), math.log(max(seconds, 1e-4))) for size, seconds in points]
    if len(usable) < 2:
        return None
    mean_x = sum(x for x, _ in usable) / len(usable)
    mean_y = sum(y for _, y in usable) / len(usable)
    spread = sum((x - mean_x) ** 2 for x, _ in usable)
    return sum((x - mean_x) * (y - mean_y) for x, y in usable) / spread if spread else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"n = {QUICK_N:,} bytes instead of {DEFAULT_N:,}")
    parser.add_argument("--families", default="", help="comma-separated subset of the families")
    parser.add_argument("--repeats", type=int, default=3, help="child processes per measurement (best time)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a child is killed")
    parser.add_argument("--events", action="store_true", help="hostile Firehose files instead of mail")
    parser.add_argument("--materialize", action="store_true", help="a salted bucket against a clean one")
    parser.add_argument("--days", type=int, default=10, help="days of the generated archive (--materialize)")
    parser.add_argument("--fuzz", type=int, default=0, help="run the property tests N times longer")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-events", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.child_events:
        child_events(args.child_events)
        return
    if args.events:
        bench_events(args.repeats, args.timeout)
        return
    if args.materialize:
        bench_materialize(args.days, args.repeats)
        return
    if args.fuzz:
        run_fuzz(args.fuzz)
        return

    names = [name for name in args.families.split(",") if name] or list(FAMILIES)
    base = QUICK_N if args.quick else DEFAULT_N
    print(f"n = {base:,} bytes; {args.repeats} repeats, timeout {args.timeout:.0f} s, {os.cpu_count()} cores")
    print(f"{'family':<27}{'size MB':>8}{'time s':>9}{'× ordinary':>11}{'peak MB':>9}{'+MB':>7}  outcome")
    ordinary_cache: dict[int, dict] = {}
    summary = []
    for name in names:
        first = max(base, MINIMUM_SIZE.get(name, 0))
        points: list[tuple[int, float]] = []
        worst_small, peak, failures = 0.0, 0.0, []
        for n in (first, 2 * first, 4 * first):
            raw = FAMILIES[name](n)
            if n not in ordinary_cache:
                ordinary_cache[n] = {"size": len(reference := ordinary(n)), **measure(
                    reference, args.repeats, args.timeout)}  # fmt: skip
            result = measure(raw, args.repeats, args.timeout)
            reference = ordinary_cache[n]
            size_mb = len(raw) / 1e6
            if "failed" in result:
                failures.append(f"{size_mb:.1f} MB: {result['failed']}")
                print(f"{name:<27}{size_mb:8.2f}{'—':>9}{'—':>11}{'—':>9}{'—':>7}  {result['failed']}")
                break  # a larger size would fail the same way, only later
            ratio = result["seconds"] / reference["seconds"] if reference.get("seconds") else float("nan")
            print(f"{name:<27}{size_mb:8.2f}{result['seconds']:9.3f}{ratio:11.1f}{result['peak_mb']:9.0f}"
                  f"{result['growth_mb']:7.0f}  {result['outcome'][:70]}")  # fmt: skip
            points.append((len(raw), result["seconds"]))
            peak = max(peak, result["peak_mb"])
            if len(raw) <= SMALL_OBJECT:
                worst_small = max(worst_small, result["seconds"])
        summary.append((name, exponent(points), worst_small, peak, failures))

    print()
    print(f"{'ordinary message':<27}{'size MB':>8}{'time s':>9}{'peak MB':>9}")
    for _, result in sorted(ordinary_cache.items()):
        seconds = f"{result['seconds']:9.3f}" if "seconds" in result else f"{result.get('failed', '?'):>9}"
        print(f"{'':<27}{result['size'] / 1e6:8.2f}{seconds}{result.get('peak_mb', float('nan')):9.0f}")
    print()
    print(f"{'family':<27}{'exponent':>9}{'worst ≤10 MB s':>16}{'peak MB':>9}  verdict")
    for name, slope, worst, peak, failures in summary:
        ok = not failures and (slope is None or slope <= EXPONENT_TARGET) and worst <= TIME_TARGET
        ok = ok and peak <= MEMORY_TARGET_MB
        slope_text = f"{slope:9.2f}" if slope is not None else f"{'—':>9}"
        verdict = "ok" if ok else "MISSED" + (": " + "; ".join(failures) if failures else "")
        print(f"{name:<27}{slope_text}{worst:16.3f}{peak:9.0f}  {verdict}")
    print(f"targets: exponent ≤ {EXPONENT_TARGET}, worst ≤ {TIME_TARGET} s for objects ≤ 10 MB, "
          f"peak ≤ {MEMORY_TARGET_MB} MB")  # fmt: skip


EVENT_N = 40_000_000
EVENT_FAMILIES = ("gzip_bomb", "enormous_line", "corrupt_gzip", "truncated_gzip", "non_utf8_lines")
REGISTRY = """tenants:
  - id: t42
    name: Tenant 42
    inbound_addresses: [t42@ses.example.com]
    public_addresses: []
    sending_domains: [t42.example.com]
    configuration_sets: [t42-outbound]
"""


def event_file(family: str, n: int) -> bytes:
    """A hostile Firehose file of about `n` decompressed bytes."""
    from pipelines.generator import hostile_events as hostile

    lines = hostile.ndjson([hostile.event_line(seed) for seed in range(max(1, n // 1500))])
    if family == "gzip_bomb":
        return hostile.gzip_bomb(n)
    if family == "enormous_line":
        return hostile.enormous_line_file(n, compress=True)
    if family == "corrupt_gzip":
        return hostile.corrupt_gzip(lines)
    if family == "truncated_gzip":
        return hostile.truncated_gzip(lines)
    bad = hostile.ndjson(h.line for h in hostile.non_utf8_lines())
    return hostile.gzip_bytes(bad * max(1, n // len(bad)))


def child_events(path: Path) -> None:
    """Ingest the one Firehose file at `path` into a scratch lake and print what it cost as one JSON line."""
    from pipelines.events.ingest import ingest_events
    from pipelines.storage.lake import Lake
    from pipelines.storage.objects import LocalStore
    from pipelines.tenants import parse_registry

    with tempfile.TemporaryDirectory() as scratch:
        bucket = Path(scratch) / "bucket" / "events" / "2026" / "10" / "01" / "00"
        bucket.mkdir(parents=True)
        (bucket / "ses-1-2026-10-01-00-00-00-file").write_bytes(path.read_bytes())
        before = memory_mb("VmRSS")
        started = time.perf_counter()
        result = ingest_events(
            LocalStore(Path(scratch) / "bucket"), Lake(LocalStore(Path(scratch) / "lake")),
            parse_registry(REGISTRY), "events/",
        )  # fmt: skip
        seconds = time.perf_counter() - started
    outcome = f"{result.rows_new} events, {result.lines_bad} bad lines"
    peak = memory_mb("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "growth_mb": peak - before, "outcome": outcome}))


def bench_events(repeats: int, timeout: float) -> None:
    print(f"events ingest of one hostile Firehose file; n = {EVENT_N:,} decompressed bytes; {repeats} repeats")
    print(f"{'family':<20}{'file MB':>8}{'n MB':>7}{'time s':>9}{'peak MB':>9}  outcome")
    for family in EVENT_FAMILIES:
        points = []
        for n in (EVENT_N, 2 * EVENT_N, 4 * EVENT_N):
            raw = event_file(family, n)
            result = measure(raw, repeats, timeout, "--child-events")
            if "failed" in result:
                print(f"{family:<20}{len(raw) / 1e6:8.2f}{n / 1e6:7.0f}  {result['failed']}")
                break
            points.append((n, result["seconds"]))
            print(f"{family:<20}{len(raw) / 1e6:8.2f}{n / 1e6:7.0f}{result['seconds']:9.3f}{result['peak_mb']:9.0f}"
                  f"  {result['outcome']}")  # fmt: skip
        slope = exponent(points)
        print(f"{family:<20}exponent {slope:.2f}" if slope is not None else f"{family:<20}exponent —")


def bench_materialize(days: int, repeats: int) -> None:
    """`seslake materialize` on a generated bucket and on a copy salted with hostile input."""
    import shutil
    from datetime import UTC, date, datetime

    from pipelines.generator import generate_archive
    from pipelines.generator.salted import salt_archive

    with tempfile.TemporaryDirectory(prefix="seslake-hostile-") as scratch:
        root = Path(scratch)
        clean = root / "clean"
        summary = generate_archive(clean, tenants=3, days=days, seed=7, start=date(2026, 10, 1))
        salted = root / "salted"
        shutil.copytree(clean, salted, copy_function=shutil.copy2)
        recipient = next(p for p in (clean / "tenants.yaml").read_text().split() if "@ses." in p).strip("[],")
        when = datetime(2026, 10, 2, 11, 30, tzinfo=UTC)
        salt = salt_archive(salted, size=1_000_000, when=when, recipient=recipient, bomb_bytes=150_000_000)
        print(f"bucket: {summary.inbound_objects} inbound + {summary.outbound_objects} outbound messages, "
              f"{summary.event_files} event files over {days} days; salted with {len(salt.mail)} hostile "
              f"messages (1 MB each, stream_lines 8.6 MB) and {len(salt.events)} hostile event files "
              f"(a 150 MB bomb)")  # fmt: skip
        times: dict[str, list[float]] = {"clean": [], "salted": []}
        for round_ in range(repeats):
            for name, bucket in (("clean", clean), ("salted", salted)):
                work = root / f"{name}-{round_}"
                env = {**os.environ, "SESLAKE_SOURCE": str(bucket), "SESLAKE_LAKE": str(work / "lake"),
                       "SESLAKE_WAREHOUSE": str(work / "warehouse.duckdb"), "SESLAKE_START_DATE": "2026-10-01",
                       "SESLAKE_HANDOFF_LEDGER": str(work / "handoff.sqlite")}  # fmt: skip
                env.pop("DAGSTER_HOME", None)
                started = time.perf_counter()
                done = subprocess.run([str(Path(sys.executable).parent / "seslake"), "materialize"], env=env,
                                      capture_output=True, text=True, check=False)  # fmt: skip
                seconds = time.perf_counter() - started
                if done.returncode != 0:
                    print(f"{name}: seslake materialize failed: {done.stderr.strip()[-300:]}")
                    return
                times[name].append(seconds)
                print(f"round {round_ + 1}: {name:<7} {seconds:7.1f} s")
        clean_s, salted_s = min(times["clean"]), min(times["salted"])
        print(f"best: clean {clean_s:.1f} s, salted {salted_s:.1f} s; salted / clean = {salted_s / clean_s:.2f}× "
              f"(target ≤ 1.5×)")  # fmt: skip


def run_fuzz(scale: int) -> None:
    """The property tests of the parser, the events lines, notifications and payloads, `scale` times longer."""
    tests = ["tests/mime/test_properties.py", "tests/events/test_line_properties.py", "tests/events/test_lines.py",
             "tests/handoff/test_notifications.py", "tests/handoff/test_payload.py"]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *tests]
    sys.exit(subprocess.run(command, cwd=root, env={**os.environ, "FUZZ_SCALE": str(scale)}, check=False).returncode)


if __name__ == "__main__":
    main()
