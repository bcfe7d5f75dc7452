"""A real `dagster-daemon run` against an instance folder, for tests and benches that go through Dagster's own
machinery (sensors, the run queue, backfills): start it with an environment, launch a backfill, wait for runs,
read their records, stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import boto3
import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.dagster_run import RunRecord
from dagster._core.utils import make_new_backfill_id

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[2]
"""The repository's root folder: the daemon loads the code location from its workspace.yaml."""
UNFINISHED = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}
BACKFILL_DONE = {
    BulkActionStatus.COMPLETED,
    BulkActionStatus.COMPLETED_SUCCESS,
    BulkActionStatus.COMPLETED_FAILED,
    BulkActionStatus.FAILED,
    BulkActionStatus.CANCELED,
}


def wait_for(predicate: Callable[[], bool], seconds: float, interval: float = 0.5) -> bool:
    """True as soon as `predicate()` is; False if it is still false after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def prepare_home(home: Path, instance_yaml: str) -> Path:
    """An instance folder holding `instance_yaml` as its dagster.yaml."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_yaml, encoding="utf-8")
    return home


def run_statuses(env: dict) -> list[str]:
    """The status of every run of the instance `env` names (DAGSTER_HOME), read by a separate process."""
    done = subprocess.run(
        [sys.executable, "-c", "import dagster as dg, json; i = dg.DagsterInstance.get(); "
         "print(json.dumps([r.status.value for r in i.get_runs()]))"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


class Daemon:
    """`dagster-daemon run` in its own process group (its runs' workers are in it too), stopped with SIGTERM
    (then killed)."""

    def __init__(self, env: dict, log: Path) -> None:
        self.log_path = log
        self.log = log.open("w")
        command = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
        self.env = env
        self.process = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, wait_seconds: float = 60) -> None:
        """Stop once the runs it launched have finished (at most `wait_seconds`)."""
        wait_for(lambda: not any(status in UNFINISHED for status in run_statuses(self.env)), wait_seconds)
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


def launch_asset_backfill(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    assets: Sequence[dg.AssetKey],
    partitions: Sequence[str],
    *,
    title: str,
    tags: dict[str, str] | None = None,
    run_config: dict | None = None,
) -> str:
    """Request an asset backfill of `partitions` of `assets` (and of the unpartitioned assets among them, once
    their upstream partitions are done), as the UI's Materialize button does: the daemon's backfill loop turns it
    into runs by each asset's backfill policy and the run queue starts them. Returns the backfill's id.

    `defs` must be partitioned as the daemon's code location is (the same SESLAKE_START_DATE)."""
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(),
        asset_graph=defs.resolve_asset_graph(),
        partition_names=list(partitions),
        asset_selection=list(assets),
        backfill_timestamp=time.time(),
        tags=tags or {},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=title,
        description=None,
        run_config=run_config,
    )
    instance.add_backfill(backfill)
    return backfill.backfill_id


def backfill_finished(instance: dg.DagsterInstance, backfill_id: str) -> bool:
    """The backfill has ended and none of its runs is queued or in progress."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is None or backfill.status not in BACKFILL_DONE:
        return False
    return not any(record.dagster_run.status.value in UNFINISHED for record in backfill_runs(instance, backfill_id))


def backfill_runs(instance: dg.DagsterInstance, backfill_id: str) -> list[RunRecord]:
    """The records (status, start and end times, tags) of the runs a backfill launched."""
    return list(instance.get_run_records(filters=dg.RunsFilter.for_backfill(backfill_id)))


def most_at_once(records: Sequence[RunRecord]) -> int:
    """The largest number of these runs that were in progress (started, not yet ended) at the same moment."""
    moments = []
    for record in records:
        if record.start_time is not None:
            moments.append((record.start_time, 1))
            moments.append((record.end_time if record.end_time is not None else float("inf"), -1))
    most = current = 0
    for _, step in sorted(moments, key=lambda m: (m[0], m[1])):  # an end before a start at the same instant
        current += step
        most = max(most, current)
    return most


def upload_backdated(folder: Path, bucket: str, endpoint: str) -> int:
    """Copy a generated archive into a moto bucket with each object's LastModified set to the file's mtime (the
    time it arrived in the real bucket), as S3 would have it; the moto server runs in this process."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    client = boto3.client("s3", endpoint_url=endpoint)
    keys = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket].keys
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative.startswith("_"):
            continue
        client.put_object(Bucket=bucket, Key=relative, Body=path.read_bytes())
        keys[relative].last_modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
        count += 1
    return count
