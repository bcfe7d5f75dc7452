"""Daily partitions as concurrent runs: the same archive's mail backfilled one run per day through the real
Dagster daemon's run queue with 1, 2 and 4 runs at once, and as one run over all the days, on this machine.

    .venv/bin/python bench/fanout.py [--days 20] [--per-day 20] [--tenants 2] [--seed 7]

A moto server (S3 over HTTP on 127.0.0.1) holds the generated archive, each object's LastModified set to its
arrival time; each measurement writes a fresh lake on S3 (`s3://…/<label>`) through a fresh instance whose queue
allows that many runs at once (`pipelines.orchestration.instance.instance_yaml`), with `dagster-daemon run`
started before the clock starts. Backfill: the asset backfill of `lake/inbound_mail` and `lake/outbound_mail`
over every day (one run per day: their backfill policy), timed from the request to the last run's end. One run:
a run of `mail_ingest_job` tagged with the whole range of days, submitted to the same queue, timed from its
creation to its end. Every run executes its steps in its run worker (in-process executor), as in the test.

Printed: wall seconds of each, and the speed-up against 1 run at once measured in the same invocation.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

import boto3  # noqa: E402
import dagster as dg  # noqa: E402

from pipelines.generator import generate_archive  # noqa: E402
from pipelines.orchestration.instance import instance_yaml  # noqa: E402
from pipelines.orchestration.partitions import daily_partitions  # noqa: E402
from tests.dagster.daemon import (  # noqa: E402
    Daemon,
    backfill_finished,
    backfill_runs,
    launch_asset_backfill,
    most_at_once,
    prepare_home,
    upload_backdated,
    wait_for,
)

START = date(2026, 9, 1)
MAIL = [dg.AssetKey(["lake", "inbound_mail"]), dg.AssetKey(["lake", "outbound_mail"])]
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}
READY = {"BACKFILL", "QUEUED_RUN_COORDINATOR"}
"""The daemons that must have reported in before the clock starts."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bench:
    def __init__(self, work: Path, endpoint: str, source: str, lakes: str, days: list[str]) -> None:
        self.work, self.endpoint, self.source, self.lakes, self.days = work, endpoint, source, lakes, days

    def start(self, label: str, runs_at_once: int) -> tuple[dg.DagsterInstance, Daemon, dict]:
        folder = self.work / label
        home = prepare_home(folder / "dagster_home", instance_yaml(runs_at_once, runs_at_once))
        env = {**os.environ, "DAGSTER_HOME": str(home), "SESLAKE_SOURCE": f"s3://{self.source}",
               "SESLAKE_S3_ENDPOINT_URL": self.endpoint, "SESLAKE_LAKE": f"s3://{self.lakes}/{label}",
               "SESLAKE_WAREHOUSE": str(folder / "warehouse.duckdb"),
               "SESLAKE_THREAD_STATE": str(folder / "threads.sqlite"),
               "SESLAKE_HANDOFF_LEDGER": str(folder / "handoff.sqlite"),
               "SESLAKE_START_DATE": daily_partitions.get_first_partition_key()}  # fmt: skip
        instance = dg.DagsterInstance.from_config(str(home))
        daemon = Daemon(env, folder / "daemon.log")
        if not wait_for(lambda: set(instance.get_daemon_heartbeats()) >= READY, 180, interval=1):
            daemon.stop(0)
            raise SystemExit(f"the daemon did not start: {daemon.tail()}")
        return instance, daemon, env

    def backfill(self, runs_at_once: int) -> tuple[float, int, int]:
        """(wall seconds, runs, most runs in progress at once) of the per-day backfill."""
        from pipelines.definitions import defs

        instance, daemon, _ = self.start(f"fanout-{runs_at_once}", runs_at_once)
        try:
            requested = time.time()
            backfill_id = launch_asset_backfill(instance, defs, MAIL, self.days, title=f"{runs_at_once} at once",
                                                run_config=IN_PROCESS)  # fmt: skip
            if not wait_for(lambda: backfill_finished(instance, backfill_id), 3600, interval=1):
                raise SystemExit(f"the backfill did not finish: {daemon.tail()}")
        finally:
            daemon.stop()
        records = backfill_runs(instance, backfill_id)
        failed = [r.dagster_run.run_id for r in records if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
        if failed:
            raise SystemExit(f"runs failed: {failed}")
        return max(r.end_time or 0.0 for r in records) - requested, len(records), most_at_once(records)

    def one_run(self) -> float:
        """Wall seconds of one run over every day, through the same queue."""
        instance, daemon, env = self.start("single", 1)
        tags = {"dagster/asset_partition_range_start": self.days[0], "dagster/asset_partition_range_end": self.days[-1]}
        try:
            subprocess.run([str(BIN / "dagster"), "job", "launch", "-j", "mail_ingest_job", "-w", "workspace.yaml",
                            "--tags", json.dumps(tags), "--config-json", json.dumps(IN_PROCESS)],
                           cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)  # fmt: skip
            done = wait_for(lambda: any(r.end_time for r in instance.get_run_records()), 3600, interval=1)
        finally:
            daemon.stop()
        (record,) = instance.get_run_records()
        if not done or record.dagster_run.status != dg.DagsterRunStatus.SUCCESS:
            raise SystemExit(f"the run did not succeed: {daemon.tail()}")
        return (record.end_time or 0.0) - record.create_timestamp.timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--per-day", type=int, default=20, help="inbound messages per tenant per day")
    parser.add_argument("--tenants", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        os.environ.setdefault(name, value)

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory(prefix="seslake-fanout-") as scratch:
            work = Path(scratch)
            s3 = boto3.client("s3", endpoint_url=endpoint)
            source, lakes = "seslake-bench-source", "seslake-bench-lakes"
            for bucket in (source, lakes):
                s3.create_bucket(Bucket=bucket)
            summary = generate_archive(work / "archive", tenants=args.tenants, days=args.days, seed=args.seed,
                                       start=START, messages_per_day=args.per_day)  # fmt: skip
            upload_backdated(work / "archive", source, endpoint)
            days = [(START + timedelta(days=i)).isoformat() for i in range(args.days)]
            mail = summary.inbound_objects + summary.outbound_objects
            print(f"archive: {args.days} days, {args.tenants} tenants, {summary.inbound_objects} inbound + "
                  f"{summary.outbound_objects} outbound objects ({mail / args.days:.0f} a day), "
                  f"{summary.bytes_written / 1e6:.1f} MB with the event files; {os.cpu_count()} cores",
                  flush=True)  # fmt: skip
            bench = Bench(work, endpoint, source, lakes, days)
            results: dict[int, tuple[float, int, int]] = {}
            for runs_at_once in (1, 2, 4):
                results[runs_at_once] = bench.backfill(runs_at_once)
                seconds, runs, most = results[runs_at_once]
                print(f"backfill, {runs_at_once} run(s) at once: {seconds:6.1f} s  ({runs} runs, at most {most} "
                      f"at once)  speed-up vs 1 at once: {results[1][0] / seconds:4.2f}×", flush=True)  # fmt: skip
            single = bench.one_run()
            print(f"one run over all {args.days} days:    {single:6.1f} s  (1 run)              "
                  f"speed-up vs 1 at once: {results[1][0] / single:4.2f}×")  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":
    main()
