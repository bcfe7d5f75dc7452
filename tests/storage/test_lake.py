"""Lake partition writes replace exactly, remove what a re-run no longer produces, and are atomic."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pytest

from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore, open_store
from pipelines.storage.schemas import QUARANTINE, UNATTRIBUTED

D1, D2 = date(2026, 10, 1), date(2026, 10, 2)


def quarantine_rows(specs: list[tuple[str | None, date, str]]) -> pa.Table:
    rows = [
        {"tenant_id": tenant, "source": "inbound", "source_key": key, "stage": "parse", "reason": "not_mail",
         "error": "x", "size_bytes": 1, "first_seen_at": None, "line_number": None, "_day": day}
        for tenant, day, key in specs
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=QUARANTINE.append(pa.field("_day", pa.date32())))


def write(lake: Lake, specs, days=(D1, D2), part="inbound"):
    return lake.replace_partitions("quarantine", part, days, quarantine_rows(specs), day_column="_day")


def test_rewrite_replaces_exactly_and_drops_stale_files(tmp_path):
    lake = Lake(LocalStore(tmp_path))
    write(lake, [("a", D1, "k1"), ("b", D1, "k2"), (None, D2, "k3")])
    assert sorted(lake.partition_files("quarantine")) == [
        f"quarantine/tenant={UNATTRIBUTED}/date=2026-10-02/inbound.parquet",
        "quarantine/tenant=a/date=2026-10-01/inbound.parquet",
        "quarantine/tenant=b/date=2026-10-01/inbound.parquet",
    ]
    write(lake, [("a", D1, "k1"), ("a", D1, "k4")])
    table = lake.read_table("quarantine")
    assert sorted(table.column("source_key").to_pylist()) == ["k1", "k4"]
    assert lake.partition_files("quarantine") == ["quarantine/tenant=a/date=2026-10-01/inbound.parquet"]


def test_other_parts_and_other_days_are_left_alone(tmp_path):
    lake = Lake(LocalStore(tmp_path))
    write(lake, [("a", D1, "in")], part="inbound")
    write(lake, [("a", D1, "out"), ("a", D2, "out2")], part="outbound")
    write(lake, [], days=[D2], part="outbound")
    assert sorted(lake.read_table("quarantine").column("source_key").to_pylist()) == ["in", "out"]


def test_no_temporary_files_remain(tmp_path):
    lake = Lake(LocalStore(tmp_path))
    write(lake, [("a", D1, "k1")])
    write(lake, [("a", D1, "k1")])
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name.startswith(".tmp")]
    assert leftovers == []


def test_same_behaviour_on_s3(moto_endpoint, s3_bucket):
    lake = Lake(open_store(f"s3://{s3_bucket}/lake", moto_endpoint))
    write(lake, [("a", D1, "k1"), ("b", D2, "k2")])
    write(lake, [("b", D2, "k2")])
    assert lake.partition_files("quarantine") == ["quarantine/tenant=b/date=2026-10-02/inbound.parquet"]
    assert lake.read_table("quarantine").column("tenant").to_pylist() == ["b"]


class CountingStore:
    """A store that records the prefixes it is asked to list."""

    def __init__(self, store) -> None:
        self.store, self.listed = store, []

    def list(self, prefix, start_after=None):
        self.listed.append(prefix)
        return self.store.list(prefix, start_after)

    def __getattr__(self, name):
        return getattr(self.store, name)


@pytest.mark.parametrize("on_s3", [False, True])
def test_reading_some_days_lists_only_those_days(tmp_path, on_s3, request):
    if on_s3:
        bucket, endpoint = request.getfixturevalue("s3_bucket"), request.getfixturevalue("moto_endpoint")
        store = open_store(f"s3://{bucket}/lake", endpoint)
    else:
        store = LocalStore(tmp_path)
    days = [D1 + timedelta(days=i) for i in range(6)]
    write(Lake(store), [(t, d, f"{t}{d}") for t in ("a", "b", None) for d in days], days=days)
    counting = CountingStore(store)
    lake = Lake(counting)
    wanted = {days[1], days[4]}
    every = lake.partition_files("quarantine")
    assert lake.partition_files("quarantine", wanted) == [k for k in every if any(str(d) in k for d in wanted)]
    assert store.children("quarantine/") == [f"tenant={UNATTRIBUTED}", "tenant=a", "tenant=b"]
    counting.listed.clear()
    table = lake.read_table("quarantine", days=wanted)
    assert sorted(set(table.column("date").to_pylist())) == sorted(wanted)
    assert table.num_rows == 6
    table_prefixes = [p for p in counting.listed if p.startswith("quarantine/")]
    assert table_prefixes and all("/date=" in p for p in table_prefixes)
    assert {p.split("date=")[1].rstrip("/") for p in table_prefixes} == {str(d) for d in wanted}


@pytest.mark.parametrize("key", ["../outside", "inbound/../../etc/passwd", "/etc/passwd", "a//b", "a/./b", "", "a\\b"])
def test_a_folder_store_refuses_keys_that_leave_it(tmp_path, key):
    store = LocalStore(tmp_path / "bucket")
    with pytest.raises(ValueError, match="not a plain relative key"):
        store.put(key, b"x")
    with pytest.raises(ValueError, match="not a plain relative key"):
        store.get(key)
    assert not (tmp_path / "outside").exists()


def test_a_folder_store_writes_files_only_its_owner_can_read(tmp_path):
    store = LocalStore(tmp_path / "bucket")
    store.put("inbound/x", b"mail")
    assert (tmp_path / "bucket" / "inbound" / "x").stat().st_mode & 0o777 == 0o600


def test_a_folder_store_lists_only_inside_itself(tmp_path):
    (tmp_path / "secret").write_text("x")
    store = LocalStore(tmp_path / "bucket")
    with pytest.raises(ValueError, match="not a plain relative key"):
        list(store.list("../"))


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_info_of_one_object_without_listing(kind, tmp_path, s3_bucket, moto_endpoint):
    store = LocalStore(tmp_path / "bucket") if kind == "local" else open_store(f"s3://{s3_bucket}/base", moto_endpoint)
    store.put("inbound/abc", b"12345")
    info = store.info("inbound/abc")
    assert info is not None and info.key == "inbound/abc" and info.size == 5
    assert info.day == info.last_modified.date()
    assert store.info("inbound/ab") is None and store.info("inbound/missing") is None


class Crash(Exception):
    pass


def _keys_by_file(lake: Lake) -> dict[str, list[str]]:
    table = lake.read_table("quarantine")
    found: dict[str, list[str]] = {}
    for row in table.to_pylist():
        found.setdefault(f"{row['tenant']}/{row['date']}", []).append(row["source_key"])
    return {k: sorted(v) for k, v in sorted(found.items())}


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_crash_while_replacing_a_day_leaves_the_old_set_or_the_new_set(kind, tmp_path, s3_bucket, moto_endpoint,
                                                                           monkeypatch):  # fmt: skip
    store = LocalStore(tmp_path / "lake") if kind == "local" else open_store(f"s3://{s3_bucket}/lake", moto_endpoint)
    lake = Lake(store)
    write(lake, [("a", D1, "old-a"), ("b", D1, "old-b"), ("c", D1, "old-c")])
    old = _keys_by_file(lake)
    new_specs = [("a", D1, "new-a"), ("b", D1, "new-b"), ("d", D1, "new-d")]

    # 1. dies while staging: nothing committed, the old set stays
    original_put = type(store).put
    calls = {"n": 0}

    def put_then_die(self, key, data):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash
        return original_put(self, key, data)

    monkeypatch.setattr(type(store), "put", put_then_die)
    with pytest.raises(Crash):
        write(lake, new_specs)
    monkeypatch.setattr(type(store), "put", original_put)
    assert _keys_by_file(lake) == old
    assert lake.recover(stale_after=timedelta(0)) == 0
    assert not list(store.list("_staging/"))

    # 2. dies after the commit, halfway through the moves: the next read finishes the new set
    original_move = type(store).move
    moves = {"n": 0}

    def move_then_die(self, source, target):
        moves["n"] += 1
        if moves["n"] == 2:
            raise Crash
        return original_move(self, source, target)

    monkeypatch.setattr(type(store), "move", move_then_die)
    with pytest.raises(Crash):
        write(lake, new_specs)
    monkeypatch.setattr(type(store), "move", original_move)
    assert list(store.list("_journal/"))
    assert _keys_by_file(lake) == {
        "a/2026-10-01": ["new-a"], "b/2026-10-01": ["new-b"], "d/2026-10-01": ["new-d"]
    }  # fmt: skip
    assert not list(store.list("_journal/")) and not list(store.list("_staging/"))


def test_the_log_says_what_changed_since_a_cursor(tmp_path):
    lake = Lake(LocalStore(tmp_path))
    write(lake, [("a", D1, "k1"), ("b", D2, "k2")])
    first, cursor = lake.changes()
    assert len(first) == 1 and first[0].days("quarantine") == {D1, D2}
    write(lake, [("a", D2, "k3")], days=[D2])
    lake.drop_covered_parts("quarantine", "inbound", {D1}, {"k1"})
    later, cursor2 = lake.changes(cursor)
    assert [change.days("quarantine") for change in later] == [{D2}, {D1}]
    assert lake.changes(cursor2) == ([], cursor2)
    assert lake.read_table("quarantine").column("source_key").to_pylist() == ["k3"]
