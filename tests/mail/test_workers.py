"""The worker pool on its own, with real processes: crashes, stalls and memory overruns each cost exactly
one item, the rest of every task is done by a fresh worker, and pieces come back in item order."""

from __future__ import annotations

import re
import time

import pytest

from pipelines.mail.workers import CRASH, MEMORY, TIMEOUT, Budget, Done, Failed, WorkerPool, WorkerStartError
from tests.mail.traps import ABORT, ALLOCATE, EXIT, SEGFAULT, SLEEP, BrokenStartJob, TrapJob

BUDGET = Budget(seconds=1.0, memory_mb=64)


def run(tasks: list[list[str]], size: int, budget: Budget = BUDGET) -> list[list]:
    with WorkerPool(TrapJob(), budget, size) as pool:
        return list(pool.map(tasks))


def summary(pieces: list) -> list[tuple]:
    """A task's pieces without worker pids: ('done', items, numbers) or ('failed', item, kind)."""
    return [
        ("done", p.items, p.result[1]) if isinstance(p, Done) else ("failed", p.item, p.failure.kind) for p in pieces
    ]


@pytest.mark.parametrize("size", [1, 3])
def test_each_crash_costs_one_item_and_the_rest_of_the_task_is_done(size):
    tasks = [["ok:1", SEGFAULT, "ok:2"], [ABORT, "ok:3"], ["ok:4", EXIT, "ok:5", "ok:6", SEGFAULT], [], ["ok:7"]]
    results = run(tasks, size)
    assert [summary(pieces) for pieces in results] == [
        [("done", ["ok:1"], [1]), ("failed", SEGFAULT, CRASH), ("done", ["ok:2"], [2])],
        [("failed", ABORT, CRASH), ("done", ["ok:3"], [3])],
        [("done", ["ok:4"], [4]), ("failed", EXIT, CRASH), ("done", ["ok:5", "ok:6"], [5, 6]),
         ("failed", SEGFAULT, CRASH)],
        [],
        [("done", ["ok:7"], [7])],
    ]  # fmt: skip
    details = {piece.item: piece.failure.detail for pieces in results for piece in pieces if isinstance(piece, Failed)}
    assert details[SEGFAULT] == "the worker died: killed by signal 11 (SIGSEGV)"
    assert details[ABORT] == "the worker died: killed by signal 6 (SIGABRT)"
    assert details[EXIT] == "the worker died: exited with status 3"


def test_an_item_over_its_time_or_memory_budget_is_killed_with_what_was_seen():
    results = run([["ok:1", SLEEP, "ok:2"], [ALLOCATE, "ok:3"]], size=2)
    assert [summary(pieces) for pieces in results] == [
        [("done", ["ok:1"], [1]), ("failed", SLEEP, TIMEOUT), ("done", ["ok:2"], [2])],
        [("failed", ALLOCATE, MEMORY), ("done", ["ok:3"], [3])],
    ]
    timeout = results[0][1].failure.detail
    seconds = float(re.match(r"ran ([0-9.]+) s, over the budget of 1 s; the worker was killed$", timeout).group(1))
    assert 1.0 <= seconds < 10
    memory = results[1][0].failure.detail
    grown = int(re.match(r"worker memory grew by (\d+) MB \(resident \d+ MB\), over the budget of 64 MB", memory)[1])
    assert grown >= 64


def test_a_crash_after_the_last_item_is_narrowed_down_to_the_item_that_causes_it():
    results = run([["ok:1", "ok:2", "finish", "ok:3", "ok:4"]], size=1)
    assert summary(results[0]) == [
        ("done", ["ok:1", "ok:2"], [1, 2]),
        ("failed", "finish", CRASH),
        ("done", ["ok:3", "ok:4"], [3, 4]),
    ]


def test_the_memory_budget_counts_resident_memory_not_reserved_address_space():
    results = run([["reserve:4096", "ok:1"], ["hold:200"]], size=1)
    assert summary(results[0]) == [("done", ["reserve:4096", "ok:1"], [1])]
    assert summary(results[1]) == [("failed", "hold:200", MEMORY)]


def test_a_worker_that_kept_half_its_memory_budget_is_replaced_between_tasks():
    light = run([["ok:1"], ["ok:2"]], size=1)
    assert light[0][0].result[0] == light[1][0].result[0]  # one worker did both
    heavy = run([["hold:40"], ["ok:2"]], size=1)
    assert isinstance(heavy[0][0], Done) and isinstance(heavy[1][0], Done)
    assert heavy[0][0].result[0] != heavy[1][0].result[0]


def test_workers_that_die_before_any_item_stop_the_pool_with_the_reason():
    with WorkerPool(BrokenStartJob(), BUDGET, 2) as pool, pytest.raises(WorkerStartError, match="exited with status 3"):
        list(pool.map([["ok:1"], ["ok:2"]]))


def test_a_worker_left_alone_on_a_stalled_item_ends_itself_by_its_own_alarm():
    with WorkerPool(TrapJob(), BUDGET, 2) as pool:
        list(pool.map([["ok:0"], ["ok:0"]]))  # both workers up, so both next tasks start at once
        results = pool.map([["nap:300", "ok:1"], [SLEEP]])
        first = next(results)  # the parent watches budgets only while the pool is advanced
        time.sleep(4)  # past the alarm: ceil(2 x 1 s) + 1 s after the stall began
        rest = list(results)
    assert summary(first) == [("done", ["nap:300", "ok:1"], [1])]
    [[stalled]] = rest
    assert (stalled.item, stalled.failure.kind) == (SLEEP, TIMEOUT)
    assert stalled.failure.detail == "ran over 3 s, past the budget of 1 s; its own alarm ended it"
