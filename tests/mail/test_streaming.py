"""A range of days is ingested day by day: the same files as one run per day and as parsing every object in
one batch and writing all days at once, while only a bounded number of days is in flight."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.mail import ingest as ingest_module
from pipelines.mail import selection as selection_module
from pipelines.mail.ingest import ingest_mime
from pipelines.mail.rows import TABLES
from pipelines.mail.sandbox import objects_to_tables
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore
from pipelines.storage.schemas import DAY_COLUMN, INBOUND, OUTBOUND
from pipelines.tenants import load_registry


def lake_files(lake_dir: Path) -> dict[str, bytes]:
    """The lake's table files (not the index, the log or the journal)."""
    return {
        p.relative_to(lake_dir).as_posix(): p.read_bytes()
        for p in sorted(lake_dir.rglob("*.parquet"))
        if not p.relative_to(lake_dir).as_posix().startswith("_")
    }


@pytest.fixture(scope="module")
def days(small_archive: Path) -> list[date]:
    return sorted({info.day for info in LocalStore(small_archive).list("inbound/")})


@pytest.fixture(scope="module")
def range_run(small_archive: Path, days: list[date], tmp_path_factory) -> dict[str, bytes]:
    lake_dir = tmp_path_factory.mktemp("range")
    registry = load_registry(str(small_archive / "tenants.yaml"))
    for direction in (INBOUND, OUTBOUND):
        ingest_mime(LocalStore(small_archive), Lake(LocalStore(lake_dir)), registry, direction, f"{direction}/", days)
    return lake_files(lake_dir)


def test_a_range_run_gives_the_files_of_day_by_day_runs(small_archive, days, range_run, tmp_path):
    registry = load_registry(str(small_archive / "tenants.yaml"))
    lake = Lake(LocalStore(tmp_path))
    for day in reversed(days):  # any order of days gives the same files
        for direction in (INBOUND, OUTBOUND):
            ingest_mime(LocalStore(small_archive), lake, registry, direction, f"{direction}/", [day], workers=1)
    assert lake_files(tmp_path) == range_run
    assert any(key.startswith("attachments/") for key in range_run)


def test_a_range_run_gives_the_files_of_one_batch_over_every_day(small_archive, days, range_run, tmp_path):
    """The reference: every object parsed in one batch, every day's partitions written in one replacement."""
    registry = load_registry(str(small_archive / "tenants.yaml"))
    store, lake = LocalStore(small_archive), Lake(LocalStore(tmp_path))
    for direction in (INBOUND, OUTBOUND):
        objects = sorted(store.list(f"{direction}/"), key=lambda info: info.key)
        tables = objects_to_tables(store, registry, direction, f"{direction}/", objects, workers=2)
        for name in TABLES:
            lake.replace_partitions(name, direction, set(days), tables[name], day_column=DAY_COLUMN)
    assert lake_files(tmp_path) == range_run


@pytest.mark.parametrize(("write_days", "write_bytes", "per_write"), [(31, 1, 1), (1, 2**40, 1), (2, 2**40, 2)])
def test_a_range_run_holds_a_bounded_number_of_days(
    small_archive, days, monkeypatch, tmp_path, write_days, write_bytes, per_write
):
    """Each write holds at most `per_write` days' rows (the write limits), and a day's objects are read only
    when at most two batches of `per_write` days plus the pool's look-ahead are waiting to be written."""
    events: list[tuple[str, date]] = []
    read_objects = selection_module.Selection.objects
    replace = Lake.replace_partitions
    writes: list[set[date]] = []

    def objects(self, day: date):
        events.append(("read", day))
        return read_objects(self, day)

    def replace_partitions(self, table: str, part: str, written: set[date], rows: pa.Table, **kwargs):
        held = set(rows.column(DAY_COLUMN).to_pylist())
        assert held <= written, (held, written)
        writes.append(set(written))
        events.extend(("write", day) for day in sorted(written))
        return replace(self, table, part, written, rows, **kwargs)

    monkeypatch.setattr(selection_module.Selection, "objects", objects)
    monkeypatch.setattr(Lake, "replace_partitions", replace_partitions)
    monkeypatch.setattr(ingest_module, "WRITE_DAYS", write_days)
    monkeypatch.setattr(ingest_module, "WRITE_BYTES", write_bytes)
    registry = load_registry(str(small_archive / "tenants.yaml"))
    workers = 1
    store, lake = LocalStore(small_archive), Lake(LocalStore(tmp_path))
    result = ingest_mime(store, lake, registry, INBOUND, "inbound/", days, workers=workers)
    assert result.days == days and len(days) == 6
    read: list[date] = []
    written: set[date] = set()
    most_waiting = 0
    for kind, day in events:
        if kind == "read":
            read.append(day)
            most_waiting = max(most_waiting, len(set(read) - written))
        else:
            written.add(day)
    ahead = 2 * workers  # the pool takes tasks up to twice its size ahead of the one being assembled
    assert read == days and written == set(days)
    assert max(len(w) for w in writes) == per_write
    assert len(writes) == len(TABLES) * -(-len(days) // per_write)
    assert most_waiting <= 2 * per_write + ahead  # a batch being written, the next one filling, the look-ahead
