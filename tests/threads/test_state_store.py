"""The keyed threading state: threading day by day against partial loads of the SQLite store gives the ids
(and the saved state) of one call over everything, while each day loads only a small part of the state."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from pipelines.tenants import parse_registry
from pipelines.threads.engine import ThreadColumns, ThreadState, reachable_keys
from pipelines.threads.inputs import columns_from_parsed
from pipelines.threads.offline import mail_items
from pipelines.threads.state_store import StateUnreadable, StoreMeta, ThreadStateStore
from tests.threads.support_mailbox import build_support_mailbox

DAY = 86400


@pytest.fixture(scope="module")
def support_columns() -> ThreadColumns:
    """The generated support mailbox (every rule's situations, strangers included) as threading reads it."""
    box = build_support_mailbox(seed=7)
    registry = parse_registry(box.registry.decode())
    items, _ = mail_items(((f.path, f.raw) for f in box.files), registry)
    return columns_from_parsed(items, registry.inbound_domains)


def by_day(columns: ThreadColumns) -> list[ThreadColumns]:
    """The rows split by arrival day, in day order (rows without an arrival go with the first day)."""
    days: dict[int, list[int]] = {}
    first = min(t for t in columns.arrived_at if t is not None) // DAY
    for i, arrived in enumerate(columns.arrived_at):
        days.setdefault(int(first if arrived is None else arrived // DAY), []).append(i)
    names = list(ThreadColumns.__slots__)
    return [
        ThreadColumns(**{name: [getattr(columns, name)[i] for i in rows] for name in names})
        for _, rows in sorted(days.items())
    ]


def meta_for(columns: ThreadColumns, before: float = float("-inf")) -> StoreMeta:
    return StoreMeta(lake="test", cursor=None, latest_arrival=max([before, *(t for t in columns.arrived_at if t)]))


def saved_by_key(path: Path) -> dict[str, object]:
    """A saved state with every node number replaced by its key: equal for equal states, however numbered."""
    with sqlite3.connect(path) as db:
        query = "select node, mailbox, key, parent, participants, from_address, sent_at, arrived_at, earlier from nodes"
        nodes = {node: row for node, *row in db.execute(query)}

        def root_key(node: int) -> str:
            while nodes[node][2] != node:
                node = nodes[node][2]
            return nodes[node][1]

        def key_of(node: int) -> str | None:
            return None if node < 0 else nodes[node][1]

        return {
            "nodes": {
                (m, k): (root_key(n), orjson.loads(p) if p else p, f, s, a, key_of(e))
                for n, (m, k, _, p, f, s, a, e) in nodes.items()
            },
            "subjects": {(m, s): key_of(n) for m, s, n in db.execute("select * from subjects")},
            "clashes": {
                (m, k): [key_of(o) for o in orjson.loads(owners)]
                for m, k, owners in db.execute("select * from clashes")
            },  # fmt: skip
            "aliases": set(db.execute("select * from aliases")),
            "ses": {(m, s): key_of(n) for m, s, n in db.execute("select * from ses")},
            "messages": db.execute("select value from meta where name = 'messages'").fetchone(),
        }


def test_day_by_day_against_partial_loads_gives_the_ids_and_the_state_of_one_call(support_columns, tmp_path):
    days = by_day(support_columns)
    assert len(days) > 30
    whole_state = ThreadState()
    whole = dict(zip(support_columns.row_key, whole_state.thread(support_columns).thread_ids, strict=True))

    store = ThreadStateStore(tmp_path / "days.sqlite")
    state = ThreadState()
    first = state.thread(days[0])
    store.replace(state, meta_for(days[0]), {}, first.renamed)
    ids = dict(zip(days[0].row_key, first.thread_ids, strict=True))
    loaded_shares = []
    for day in days[1:]:
        meta = store.meta()
        assert meta is not None
        with store.snapshot():
            partial = store.load(reachable_keys(day), meta)
        result = partial.state.thread(day)
        store.save(partial, meta_for(day, meta.latest_arrival), {}, result.renamed)
        ids.update(zip(day.row_key, result.thread_ids, strict=True))
        loaded_shares.append(len(partial.globals) / meta.next_node)
    current = store.current_thread_ids(set(ids.values()))
    assert {key: current[thread_id] for key, thread_id in ids.items()} == whole

    whole_store = ThreadStateStore(tmp_path / "whole.sqlite")
    whole_store.replace(whole_state, meta_for(support_columns), {}, {})
    store.close()
    whole_store.close()
    assert saved_by_key(tmp_path / "days.sqlite") == saved_by_key(tmp_path / "whole.sqlite")
    # a day's batch loads a small part of the state, not the archive
    assert max(loaded_shares[len(loaded_shares) // 2 :]) < 0.2, loaded_shares


def test_a_late_message_joining_two_saved_threads_renames_the_younger_one(tmp_path):
    """Day 1 holds two threads (the second started by a reply to a parent that never came); day 2 brings
    that parent, which references the first: the younger thread takes the older one's id."""
    day1 = ThreadColumns.from_records([
        {"mailbox": "m", "row_key": "1", "message_id": "a@x", "arrived_at": 10.0, "participants": ["c@y"]},
        {"mailbox": "m", "row_key": "2", "message_id": "b@x", "reference_ids": ["p@x"], "arrived_at": 20.0},
        {"mailbox": "other", "row_key": "3", "message_id": "p@x", "arrived_at": 30.0},
    ])  # fmt: skip
    day2 = ThreadColumns.from_records([
        {"mailbox": "m", "row_key": "4", "message_id": "p@x", "reference_ids": ["a@x"], "arrived_at": DAY + 5.0},
    ])  # fmt: skip
    store = ThreadStateStore(tmp_path / "state.sqlite")
    state = ThreadState()
    first = state.thread(day1)
    store.replace(state, meta_for(day1), {}, first.renamed)
    meta = store.meta()
    with store.snapshot():
        partial = store.load(reachable_keys(day2), meta)
    assert sorted(partial.state.key) == ["a@x", "b@x", "p@x"]  # not the other mailbox's p@x
    second = partial.state.thread(day2)
    store.save(partial, meta_for(day2, meta.latest_arrival), {}, second.renamed)
    assert second.renamed == {first.thread_ids[1]: first.thread_ids[0]}
    assert second.thread_ids == [first.thread_ids[0]]
    assert store.current_thread_ids([first.thread_ids[1]]) == {first.thread_ids[1]: first.thread_ids[0]}
    whole = ThreadState().thread(ThreadColumns.from_records([*_records(day1), *_records(day2)]))
    assert whole.thread_ids == [first.thread_ids[0], first.thread_ids[0], first.thread_ids[2], first.thread_ids[0]]


def _records(columns: ThreadColumns) -> list[dict]:
    names = list(ThreadColumns.__slots__)
    return [{name: getattr(columns, name)[i] for name in names} for i in range(len(columns))]


def test_renames_are_followed_to_the_surviving_id(tmp_path):
    store = ThreadStateStore(tmp_path / "state.sqlite")
    state = ThreadState()
    state.thread(ThreadColumns.from_records([{"mailbox": "m", "message_id": "a@x", "arrived_at": 1.0}]))
    store.replace(state, StoreMeta("test", None, 1.0), {}, {"t1": "t2", "t2": "t3", "t9": "t8"})
    assert store.current_thread_ids(["t1", "t2", "t4", "t9"]) == {"t1": "t3", "t2": "t3", "t4": "t4", "t9": "t8"}


def test_a_file_that_is_not_a_state_is_reported_and_replaced(tmp_path):
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"not a database, just bytes " * 200)
    store = ThreadStateStore(path)
    with pytest.raises(StateUnreadable):
        store.meta()
    state = ThreadState()
    state.thread(ThreadColumns.from_records([{"mailbox": "m", "message_id": "a@x", "arrived_at": 1.0}]))
    store.replace(state, StoreMeta("test", "cursor-1", 1.0), {}, {})
    meta = store.meta()
    assert meta is not None and (meta.cursor, meta.messages, meta.next_node) == ("cursor-1", 1, 1)
