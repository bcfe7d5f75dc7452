"""Does the cost of new work depend on the archive's size? A small archive and one `--scale` times larger (same
tenants, same mail per day, more days), each materialized, then the same new work measured on both.

    .venv/bin/python bench/scale.py [--days 8] [--scale 10] [--per-day 300] [--tenants 3] [--seed 7]

Both archives are generated once (seeded) and cached under the temp folder; the last generated day is held back.
For each archive, in this order, each step in its own child process (so its peak RSS is its own):

1. full: `seslake materialize` of every day but the last (every asset, one run each);
2. the last day (today, so new mail's day is the current partition) arrives in two waves, mail by arrival
   time and event files by folder hour. The morning lands, its inbound mail is handed off as SES's
   notifications would (the live feed starts) and an intraday run takes it (untimed: it lists the bucket once,
   because the feed began after the last listing). Then the afternoon lands and is measured:
3. live 1 / live 50: the hand-off job (what `inbound_mail_sensor` launches) for 1, then 50 of the afternoon's
   inbound messages, delivered to the reply-service stub on loopback; then (untimed) the afternoon's other
   inbound messages, as SES's notifications hand off every one (feeding the arrivals index);
4. new work: each asset of the intraday path for today's partition (inbound mail, outbound mail, event files,
   threads), then the warehouse refresh: the steady state of a day.

Printed: seconds and peak RSS of each step on both archives and the large/small ratio. The work of every
step but `full` is the same on both, so a ratio near 1 means the step's cost follows new work, not the archive.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
SECRET = "bench-secret"
NEW_DAY = datetime.now(UTC).date()
"""The held-back day is today, as new mail's day is."""
NEW_DAY_PARTS = (NEW_DAY.year, NEW_DAY.month, NEW_DAY.day)
DAY_ASSETS = ("lake/inbound_mail", "lake/outbound_mail", "lake/ses_events", "lake/message_threads",
              "warehouse/tenant_daily")  # fmt: skip
"""One key of each asset of the intraday path; the warehouse's models are built together."""


def generated(days: int, per_day: int, tenants: int, seed: int, start: date) -> Path:
    """The archive of `days` days from `start` (cached): generated once per parameters."""
    from pipelines.generator import generate_archive

    folder = Path(tempfile.gettempdir()) / "seslake-scale" / f"d{days}-p{per_day}-t{tenants}-s{seed}-{start}"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate_archive(folder / "archive", tenants=tenants, days=days, seed=seed, start=start,
                         messages_per_day=per_day)  # fmt: skip
        (folder / "done").write_text("")
    return folder / "archive"


def is_new(relative: Path, mtime: float, new_day: date) -> bool:
    """Whether a generated file belongs to the held-back day (the last one, today): mail that arrived on it,
    event files of its Firehose folder."""
    parts = relative.parts
    if parts[0] == "events" and len(parts) >= 4:
        return date(int(parts[1]), int(parts[2]), int(parts[3])) >= new_day
    if parts[0] in ("inbound", "outbound"):
        return datetime.fromtimestamp(mtime, UTC).date() >= new_day
    return False


def split_archive(archive: Path, source: Path, held: Path, new_day: date) -> dict[str, int]:
    """Copy the archive into `source` without the new day, and the new day's files into `held`."""
    counts = {"base": 0, "new": 0}
    for path in sorted(archive.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(archive)
        if relative.parts[0].startswith("_"):
            continue
        new = is_new(relative, path.stat().st_mtime, new_day)
        target = (held if new else source) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        counts["new" if new else "base"] += 1
    return counts


def in_first_wave(relative: Path, mtime: float) -> bool:
    """Whether a held-back file arrives in the day's first wave (before noon UTC: mail by arrival time, event
    files by their Firehose folder's day and hour)."""
    parts = relative.parts
    if parts[0] == "events" and len(parts) >= 5:
        return (int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4])) < (*NEW_DAY_PARTS, 12)
    return datetime.fromtimestamp(mtime, UTC).hour < 12


def land(held: Path, source: Path, first_wave: bool) -> list[str]:
    """One wave of the held-back day arrives: its files move into the source with their arrival times. Returns
    the wave's inbound keys."""
    inbound = []
    for path in sorted(held.rglob("*")):
        relative = path.relative_to(held)
        if path.is_file() and in_first_wave(relative, path.stat().st_mtime) == first_wave:
            target = source / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            if relative.parts[0] == "inbound":
                inbound.append(relative.as_posix())
    return inbound


def run_child(args: list[str], env: dict) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and stdout of a child process."""
    script = ("import resource, subprocess, sys, json, time\n"
              "t = time.perf_counter()\n"
              "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
              "s = time.perf_counter() - t\n"
              "print(json.dumps({'seconds': s, 'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,"
              " 'code': done.returncode, 'out': done.stdout, 'err': done.stderr[-2000:]}))\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    if report["code"] != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {report['err']}")
    return report["seconds"], report["rss"] / 1024, report["out"]


def child_day(new_day: str) -> None:
    """Each asset of the new day, one run each (partitioned ones for the new day's partition; the warehouse's
    models in one run): seconds each."""
    import dagster as dg

    from pipelines.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    assets = list(defs.assets or [])
    seconds: dict[str, float] = {}
    for name in DAY_ASSETS:
        key = dg.AssetKey.from_user_string(name)
        asset = next(a for a in assets if key in a.keys)
        started = time.perf_counter()
        result = dg.materialize(
            assets, selection=dg.AssetSelection.assets(*asset.keys), resources=defs.resources, instance=instance,
            partition_key=new_day if asset.partitions_def else None, raise_on_error=True,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )  # fmt: skip
        assert result.success
        seconds[name] = time.perf_counter() - started
        found_by = [e.materialization.metadata.get("days_found_by") for e in result.get_asset_materialization_events()]
        if any(found_by):
            print(f"{name}: days found by {[getattr(f, 'value', f) for f in found_by if f]}")
    print(json.dumps(seconds))


def child_live(count: int, skip: int) -> None:
    """The hand-off job for `count` of the new day's inbound messages (after the first `skip`), delivered to the
    stub: the job's seconds."""
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.handoff.discovery import InboundItem
    from pipelines.handoff.stub import serve
    from pipelines.orchestration.jobs import HANDOFF_ASSET
    from pipelines.orchestration.resources import HandoffResource
    from pipelines.orchestration.sensors import handoff_run_config
    from pipelines.settings import Settings

    settings = Settings.from_env()
    keys = Path(os.environ["BENCH_WAVE_KEYS"]).read_text().split()[skip : skip + count]
    stub = serve(0, SECRET, Path(settings.handoff_ledger).with_name(f"stub-{skip}.jsonl"))
    resources = {**defs.resources, "handoff": HandoffResource(reply_url=stub.inbound_url, reply_secret=SECRET)}
    run_config = handoff_run_config([InboundItem(object_key=key) for key in keys])
    run_config["loggers"] = {"console": {"config": {"log_level": "WARNING"}}}
    selection = dg.AssetSelection.assets(HANDOFF_ASSET)
    started = time.perf_counter()
    try:
        dg.materialize(list(defs.assets or []), selection=selection, resources=resources, run_config=run_config)
    finally:
        stub.shutdown()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "delivered": stub.stats()["distinct_event_ids"], "taken": len(keys)}))


def measure(label: str, archive: Path, work: Path, start: date, new_day: date) -> dict[str, tuple[float, float]]:
    """Every step on one archive: name → (seconds, peak RSS MB)."""
    source, held = work / "source", work / "held"
    counts = split_archive(archive, source, held, new_day)
    env = {**os.environ, "SESLAKE_SOURCE": str(source), "SESLAKE_LAKE": str(work / "lake"),
           "SESLAKE_WAREHOUSE": str(work / "warehouse.duckdb"), "SESLAKE_START_DATE": start.isoformat(),
           "SESLAKE_HANDOFF_LEDGER": str(work / "handoff.sqlite"), "SESLAKE_REPLY_SECRET": SECRET,
           "BENCH_NEW_DAY": new_day.isoformat()}  # fmt: skip
    env.pop("DAGSTER_HOME", None)
    figures: dict[str, tuple[float, float]] = {}
    seconds, rss, _ = run_child([str(BIN / "seslake"), "materialize"], env)
    figures["full materialize"] = (seconds, rss)
    lake_mb = sum(p.stat().st_size for p in (work / "lake").rglob("*") if p.is_file()) / 1e6
    print(f"{label}: {counts['base']} files materialized ({lake_mb:.0f} MB of lake) in {seconds:.1f} s, "
          f"peak {rss:.0f} MB; {counts['new']} files of {new_day} held back", flush=True)  # fmt: skip
    # the morning: its inbound mail handed off as it lands (the live feed starts), then an intraday run; this
    # run lists the bucket once, since the feed began after the last listing
    (work / "wave1.txt").write_text("\n".join(land(held, source, first_wave=True)))
    run_child(
        [sys.executable, __file__, "--child-live", "100000", "0"], {**env, "BENCH_WAVE_KEYS": str(work / "wave1.txt")}
    )
    run_child([sys.executable, __file__, "--child-day", new_day.isoformat()], env)
    # the afternoon, measured: live batches, then the intraday run in steady state
    (work / "wave2.txt").write_text("\n".join(land(held, source, first_wave=False)))
    env = {**env, "BENCH_WAVE_KEYS": str(work / "wave2.txt")}
    for count, skip in ((1, 0), (50, 1)):
        _, rss, out = run_child([sys.executable, __file__, "--child-live", str(count), str(skip)], env)
        live = json.loads(out.strip().splitlines()[-1])
        figures[f"live batch of {count}"] = (live["seconds"], rss)
        print(
            f"{label}: live batch of {count}: {live['delivered']} of {live['taken']} delivered (the others are "
            "quarantined: spam, viruses, mail no tenant claims)",
            flush=True,
        )
    # the afternoon's other inbound messages go through the live path too, as SES's notifications send every one
    _, _, out = run_child([sys.executable, __file__, "--child-live", "100000", "51"], env)
    others = json.loads(out.strip().splitlines()[-1])["taken"]
    print(f"{label}: the afternoon's other inbound messages handed off: {others}", flush=True)
    _, rss, out = run_child([sys.executable, __file__, "--child-day", new_day.isoformat()], env)
    *notes, last = out.strip().splitlines()
    print("\n".join(f"{label}: {note}" for note in notes if "found by" in note), flush=True)
    steps = json.loads(last)
    for name, seconds in steps.items():
        figures[f"new day: {name}"] = (seconds, rss)
    figures["new day: all steps"] = (sum(steps.values()), rss)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child-day", help=argparse.SUPPRESS)
    parser.add_argument("--child-live", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--days", type=int, default=8, help="days of the small archive, the new one included")
    parser.add_argument("--scale", type=int, default=10, help="the large archive has this many times the days")
    parser.add_argument("--per-day", type=int, default=300, help="inbound messages per day (both archives)")
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.child_day:
        return child_day(args.child_day)
    if args.child_live:
        return child_live(*args.child_live)

    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="seslake-scale-") as scratch:
        for label, days in (("small", args.days), ("large", args.days * args.scale)):
            new_day = NEW_DAY
            start = new_day - timedelta(days=days - 1)
            archive = generated(days, args.per_day, args.tenants, args.seed, start)
            results[label] = measure(label, archive, Path(scratch) / label, start, new_day)
    small, large = results["small"], results["large"]
    print(f"\narchives: small {args.days} days, large {args.days * args.scale} days, {args.per_day} inbound "
          f"messages a day over {args.tenants} tenants (plus the answers and their events)")  # fmt: skip
    print(f"{'step':<36} {'small s':>8} {'large s':>8} {'ratio':>6}   {'small MB':>8} {'large MB':>8} {'ratio':>6}")
    for step in small:
        (s_sec, s_rss), (l_sec, l_rss) = small[step], large[step]
        print(f"{step:<36} {s_sec:8.2f} {l_sec:8.2f} {l_sec / s_sec:5.2f}×   {s_rss:8.0f} {l_rss:8.0f} "
              f"{l_rss / s_rss:5.2f}×")  # fmt: skip
    print(
        "targets: every new-day step and live batch ≤ 1.3× (time); full materialize ≈ the scale in time, "
        "≤ 1.2× in peak memory"
    )


if __name__ == "__main__":
    main()
