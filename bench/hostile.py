"""The MIME parser on hostile mail: time and memory per family, against ordinary mail of the same size.

    .venv/bin/python bench/hostile.py [--quick] [--families nesting,part_count] [--repeats 3]
                                      [--timeout 120] [--html-body]

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
`--html-body` also runs `parse.html_body` on messages that have an HTML part (the live hand-off's
second parse, while that function exists).
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


def child(path: Path, html_body: bool) -> None:
    """Parse the message at `path` once and print what it cost as one JSON line."""
    from pipelines.mime import parse
    from pipelines.mime.message import MimeParseError

    raw = path.read_bytes()
    before = memory_mb("VmRSS")
    started = time.perf_counter()
    try:
        message = parse.parse_message(raw)
        outcome = message.parser + (" " + ",".join(message.warnings) if message.warnings else "")
        if html_body and message.has_html and hasattr(parse, "html_body"):
            parse.html_body(raw)
    except MimeParseError as exc:
        outcome = f"refused: {exc}"
    except Exception as exc:  # noqa: BLE001 - a parser bug is a result to report, as the ingest quarantines it
        outcome = f"parser error: {type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    peak = memory_mb("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "growth_mb": peak - before, "outcome": outcome}))


def measure(raw: bytes, repeats: int, timeout: float, html_body: bool) -> dict:
    """The best of `repeats` child processes parsing `raw`, or why none finished."""
    with tempfile.NamedTemporaryFile(suffix=".eml") as fh:
        fh.write(raw)
        fh.flush()
        best: dict | None = None
        for _ in range(repeats):
            command = [sys.executable, __file__, "--child", fh.name] + (["--html-body"] if html_body else [])
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
    parser.add_argument("--html-body", action="store_true", help="also run parse.html_body when there is HTML")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.html_body)
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
                    reference, args.repeats, args.timeout, args.html_body)}  # fmt: skip
            result = measure(raw, args.repeats, args.timeout, args.html_body)
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


if __name__ == "__main__":
    main()
