"""Threads in the lake and the warehouse: ids match the generator's conversations, an incremental run
equals a rebuild, and the warehouse's thread figures equal figures computed here from the lake."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import defaultdict
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.mail.ingest import ingest_mime
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore
from pipelines.storage.schemas import INBOUND, OUTBOUND
from pipelines.tenants import load_registry
from pipelines.threads.engine import STATE_VERSION
from pipelines.threads.lake import thread_for, thread_lake, thread_state_path
from pipelines.warehouse.build import build_warehouse
from tests.threads.evaluation import bcubed


def ingest(archive: Path, lake: Lake, days: list[date] | None = None) -> None:
    registry = load_registry(str(archive / "tenants.yaml"))
    for direction in (INBOUND, OUTBOUND):
        ingest_mime(LocalStore(archive), lake, registry, direction, f"{direction}/", days, workers=1)


@pytest.fixture(scope="module")
def threaded(small_archive, tmp_path_factory) -> Lake:
    lake = Lake(LocalStore(tmp_path_factory.mktemp("lake")))
    ingest(small_archive, lake)
    thread_lake(lake)
    return lake


def thread_of_key(lake: Lake) -> dict[str, str]:
    rows = lake.read_table("message_threads", columns=["object_key", "thread_id"]).to_pylist()
    return {row["object_key"]: row["thread_id"] for row in rows}


def test_threads_match_the_generated_conversations(threaded, small_archive):
    truth_rows = [json.loads(line) for line in (small_archive / "_truth" / "messages.jsonl").read_text().splitlines()]
    truth = {row["key"]: row["thread"] for row in truth_rows if row["thread"]}
    found = thread_of_key(threaded)
    assert len(found) == threaded.read_table("messages", columns=["object_key"]).num_rows
    score = bcubed(found, truth)
    assert score.items > 500
    assert score.f1 >= 0.99, score


def test_a_second_run_threads_nothing_and_changes_nothing(threaded):
    before = thread_of_key(threaded)
    again = thread_lake(threaded)
    assert (again.messages_threaded, again.full_rebuild) == (0, False)
    assert thread_of_key(threaded) == before


def test_day_by_day_runs_give_the_ids_of_one_run(small_archive, threaded, tmp_path):
    archive = tmp_path / "archive"
    shutil.copytree(small_archive, archive, copy_function=shutil.copy2)
    days = sorted(set(threaded.read_table("messages", columns=["object_key"])["date"].to_pylist()))
    lake = Lake(LocalStore(tmp_path / "lake"))
    runs = []
    for day in days:
        ingest(archive, lake, [day])
        runs.append(thread_lake(lake))
    assert not any(run.full_rebuild for run in runs[1:]), [run.reason for run in runs]
    assert sum(run.messages_threaded for run in runs) == len(thread_of_key(threaded))
    renames = {row["old_thread_id"]: row["thread_id"] for row in lake.read_table("thread_renames").to_pylist()}

    def current(thread_id: str) -> str:
        while thread_id in renames:
            thread_id = renames[thread_id]
        return thread_id

    incremental = {key: current(thread_id) for key, thread_id in thread_of_key(lake).items()}
    assert incremental == thread_of_key(threaded)


def test_a_state_that_does_not_match_the_rows_forces_a_rebuild(small_archive, threaded, tmp_path):
    """A run that wrote its rows but died before saving its state leaves rows the state does not count."""
    days = sorted(set(threaded.read_table("messages", columns=["object_key"])["date"].to_pylist()))
    lake = Lake(LocalStore(tmp_path / "lake"))
    ingest(small_archive, lake, days[:-1])
    thread_lake(lake)
    path = thread_state_path(lake)
    shutil.copy(path, tmp_path / "before.sqlite")
    ingest(small_archive, lake, days[-1:])
    thread_lake(lake)
    path.unlink()
    shutil.copy(tmp_path / "before.sqlite", path)
    again = thread_lake(lake)
    assert again.full_rebuild and again.reason == "saved state does not match message_threads"
    assert thread_of_key(lake) == thread_of_key(threaded)


def test_a_missing_state_file_forces_a_rebuild_with_the_same_ids(small_archive, threaded, tmp_path):
    lake = Lake(LocalStore(tmp_path / "lake"))
    ingest(small_archive, lake)
    first = thread_lake(lake)
    thread_state_path(lake).unlink()  # a fresh machine
    again = thread_lake(lake)
    assert again.full_rebuild and again.reason == "no saved state"
    assert again.messages_threaded == first.messages_threaded
    assert thread_of_key(lake) == thread_of_key(threaded)
    assert not thread_lake(lake).full_rebuild


def test_a_state_saved_under_other_rules_forces_a_rebuild(small_archive, threaded, tmp_path):
    """A state of another STATE_VERSION (threaded under other rules) is never built upon: the live path
    threads against the lake alone, and the next run threads everything again, keeping the id handed off."""
    days = sorted(set(threaded.read_table("messages", columns=["object_key"])["date"].to_pylist()))
    lake = Lake(LocalStore(tmp_path / "lake"))
    ingest(small_archive, lake, days[:-1])
    thread_lake(lake)
    with sqlite3.connect(thread_state_path(lake)) as connection:
        connection.execute("update meta set value = ? where name = 'version'", (str(STATE_VERSION - 1),))
    ingest(small_archive, lake, days[-1:])
    done = thread_of_key(lake)
    keys = lake.read_table("messages", columns=["object_key"])["object_key"].to_pylist()
    late = sorted(k for k in keys if k not in done)[:20]
    handed_off = {k: thread_id for k, (thread_id, _) in thread_for(lake, late).items()}
    again = thread_lake(lake)
    assert again.full_rebuild
    assert again.reason == f"saved thread state has version {STATE_VERSION - 1}, expected {STATE_VERSION}"
    assert late and handed_off == {k: thread_of_key(lake)[k] for k in late}
    assert thread_of_key(lake) == thread_of_key(threaded)
    assert not thread_lake(lake).full_rebuild


def test_warehouse_threads_and_response_times_equal_figures_from_the_lake(threaded, small_archive, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    build_warehouse(threaded, load_registry(str(small_archive / "tenants.yaml")), path)
    messages = threaded.read_table(
        "messages", columns=["tenant_id", "direction", "object_key", "received_at"]
    ).to_pylist()
    thread = thread_of_key(threaded)
    by_thread: dict[str, list[dict]] = defaultdict(list)
    for message in messages:
        by_thread[thread[message["object_key"]]].append(message)
    expected = {}
    for thread_id, mail in by_thread.items():
        inbound = sorted(m["received_at"] for m in mail if m["direction"] == "inbound")
        outbound = sorted(m["received_at"] for m in mail if m["direction"] == "outbound")
        reply = next((t for t in outbound if inbound and t >= inbound[0]), None)
        response = (reply - inbound[0]).total_seconds() if reply is not None else None
        awaiting = bool(inbound) and (not outbound or outbound[-1] < inbound[-1])
        expected[thread_id] = (len(mail), len(inbound), len(outbound), response, awaiting)
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(
            "select thread_id, message_count, inbound_messages, outbound_messages, first_response_seconds, "
            "awaiting_reply from threads"
        ).fetchall()
        daily = connection.execute(
            "select sum(threads_opened), sum(threads_answered), count(*) filter "
            "(where p90_first_response_seconds < median_first_response_seconds) from tenant_response_daily"
        ).fetchall()[0]
        untagged = connection.execute("select count(*) from messages where thread_id is null").fetchall()[0][0]
    actual = {thread_id: tuple(figures) for thread_id, *figures in rows}
    assert actual.keys() == expected.keys()
    for thread_id, (count, inbound, outbound, response, awaiting) in expected.items():
        got = actual[thread_id]
        assert got[:3] == (count, inbound, outbound) and got[4] == awaiting, thread_id
        assert (got[3] is None and response is None) or got[3] == pytest.approx(response), thread_id
    assert untagged == 0
    opened = sum(1 for figures in expected.values() if figures[1])
    answered = sum(1 for figures in expected.values() if figures[3] is not None)
    assert daily == (opened, answered, 0)
    assert answered > 100


class CountingStore(LocalStore):
    """A local store that records every object read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []

    def get(self, key: str) -> bytes:
        self.reads.append(key)
        return super().get(key)

    def table_days(self, table: str) -> set[str]:
        """The partition days of `table` read since the last `reset`."""
        return {key.split("/date=")[1].split("/")[0] for key in self.reads if key.startswith(f"{table}/")}

    def reset(self) -> None:
        self.reads.clear()


def test_a_run_after_one_new_day_reads_only_that_days_partitions(small_archive, threaded, tmp_path):
    days = sorted(set(threaded.read_table("messages", columns=["object_key"])["date"].to_pylist()))
    store = CountingStore(tmp_path / "lake")
    lake = Lake(store)
    ingest(small_archive, lake, days[:-1])
    assert thread_lake(lake).full_rebuild
    ingest(small_archive, lake, days[-1:])
    store.reset()
    run = thread_lake(lake)
    assert not run.full_rebuild and run.messages_threaded > 0
    assert store.table_days("messages") == {days[-1].isoformat()}
    assert store.table_days("message_threads") <= {days[-1].isoformat()}  # none there yet
    store.reset()
    assert thread_lake(lake).messages_threaded == 0
    assert not store.table_days("messages") and not store.table_days("message_threads")
    assert thread_of_key(lake) == thread_of_key(threaded)


def test_thread_for_reads_the_batchs_days_and_hands_off_the_ids_the_next_run_keeps(small_archive, threaded, tmp_path):
    days = sorted(set(threaded.read_table("messages", columns=["object_key"])["date"].to_pylist()))
    store = CountingStore(tmp_path / "lake")
    lake = Lake(store)
    ingest(small_archive, lake, days[:-1])
    thread_lake(lake)
    ingest(small_archive, lake, days[-1:])
    done = thread_of_key(lake)
    keys = lake.read_table("messages", columns=["object_key"])["object_key"].to_pylist()
    late = sorted(k for k in keys if k not in done)[::7]
    first_day = lake.read_table("message_threads", days={days[0]}, columns=["object_key"])["object_key"]
    earlier = sorted(first_day.to_pylist())[::20]
    store.reset()
    handed_off = thread_for(lake, late + earlier, days=[days[-1], days[0]])
    assert store.table_days("messages") == {days[-1].isoformat(), days[0].isoformat()}
    assert store.table_days("message_threads") == {days[0].isoformat()}  # none yet on the new day
    assert not store.table_days("thread_renames")
    assert late and set(handed_off) == set(late + earlier)
    run = thread_lake(lake)
    assert not run.full_rebuild
    renames = {row["old_thread_id"]: row["thread_id"] for row in lake.read_table("thread_renames").to_pylist()}

    def current(thread_id: str) -> str:
        while thread_id in renames:
            thread_id = renames[thread_id]
        return thread_id

    now = thread_of_key(lake)
    assert {k: thread_id for k, (thread_id, _) in handed_off.items()} == {k: current(now[k]) for k in handed_off}
    assert {k: current(now[k]) for k in now} == thread_of_key(threaded)


def test_a_corrupt_state_file_forces_a_rebuild_with_the_same_ids(small_archive, threaded, tmp_path):
    lake = Lake(LocalStore(tmp_path / "lake"))
    ingest(small_archive, lake)
    thread_lake(lake)
    path = thread_state_path(lake)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"\x00garbage" * 4096)
    keys = sorted(thread_of_key(lake))[:5]
    assert {k: t for k, (t, _) in thread_for(lake, keys).items()} == {k: thread_of_key(threaded)[k] for k in keys}
    again = thread_lake(lake)
    assert again.full_rebuild and "unreadable" in again.reason
    assert thread_of_key(lake) == thread_of_key(threaded)
    assert not thread_lake(lake).full_rebuild
