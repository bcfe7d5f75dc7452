"""The warehouse refresh: after new days arrive in the lake it updates the published file to exactly what a
full rebuild gives (every table's rows, both ways, and the documentation), reading only the changed days'
files; with nothing new it does nothing; renames reach messages of earlier days; it rebuilds whole when the
models, the cursor or the file say it must."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.events.ingest import ingest_events
from pipelines.generator import generate_archive
from pipelines.mail.ingest import ingest_mime
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore, open_store
from pipelines.storage.schemas import DAY_COLUMN, INBOUND, OUTBOUND, THREAD_RENAMES, with_day
from pipelines.tenants import TenantRegistry, load_registry
from pipelines.threads.lake import thread_lake
from pipelines.warehouse.build import FULL, INCREMENTAL, UNCHANGED, build_warehouse
from pipelines.warehouse.mirror import mirror_folder
from pipelines.warehouse.models import load_models
from pipelines.warehouse.refresh import refresh_warehouse
from pipelines.warehouse.state import BUILD_TABLE, read_state
from tests.conftest import PROJECT

START = date(2026, 10, 1)
DAYS = 6
CUTOFF = date(2026, 10, 4)
"""The first lake holds the objects that arrived up to this day; the rest come later."""


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("archive")
    generate_archive(dest, tenants=2, days=DAYS, seed=23, start=START, messages_per_day=8)
    return dest


def arrival_day(path: Path) -> date:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).date()


def copy_bucket(archive: Path, bucket: Path, until: date | None = None) -> None:
    """Copy the archive's event files that arrived up to `until` (every one for None), keeping their times."""
    for path in sorted((archive / "events").rglob("*")):
        relative = path.relative_to(archive)
        if path.is_file() and (until is None or arrival_day(path) <= until):
            (bucket / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, bucket / relative)


def arrival_days(archive: Path, after: date | None = None, until: date | None = None) -> list[date]:
    """The days on which objects arrived, in (after, until]."""
    days = {
        arrival_day(p)
        for p in archive.rglob("*")
        if p.is_file() and not p.relative_to(archive).parts[0].startswith("_")
    }
    return sorted(d for d in days if (after is None or d > after) and (until is None or d <= until))


def ingest(archive: Path, events: Path, lake: Lake, registry: TenantRegistry, days: list[date]) -> None:
    """What the assets do: the archive's mail of `days`, the new event files under `events`, then threading."""
    for direction in (INBOUND, OUTBOUND):
        ingest_mime(LocalStore(archive), lake, registry, direction, f"{direction}/", days, workers=1)
    ingest_events(LocalStore(events), lake, registry, "events/")
    thread_lake(lake, inbound_domains=sorted(registry.inbound_domains))


def assert_same_warehouse(refreshed: Path, rebuilt: Path) -> None:
    """The two files hold the same tables with the same rows (EXCEPT ALL both ways) and documentation."""
    with duckdb.connect() as connection:
        connection.execute(f"attach '{refreshed}' as refreshed (read_only)")
        connection.execute(f"attach '{rebuilt}' as rebuilt (read_only)")

        def dictionary(database: str) -> set[tuple]:
            return set(
                connection.execute(
                    "select t.table_name, t.comment, c.column_name, c.column_index, c.data_type, c.comment "
                    "from duckdb_tables() t join duckdb_columns() c using (database_name, table_name) "
                    "where database_name = ? and t.table_name <> ?",
                    [database, BUILD_TABLE],
                ).fetchall()
            )

        assert dictionary("refreshed") == dictionary("rebuilt")
        tables = {row[0] for row in dictionary("rebuilt")}
        assert {m.name for m in load_models()} == tables
        for table in sorted(tables):
            counts = [
                connection.execute(f'select count(*) from {db}."{table}"').fetchone()[0]
                for db in ("refreshed", "rebuilt")
            ]
            assert counts[0] == counts[1], table
            for first, second in (("refreshed", "rebuilt"), ("rebuilt", "refreshed")):
                difference = f'select * from {first}."{table}" except all select * from {second}."{table}"'
                extra = connection.execute(f"select count(*) from ({difference})").fetchone()[0]
                assert extra == 0, f"{table}: {extra} rows of {first} not in {second}"


@pytest.fixture(scope="module")
def grown(archive, tmp_path_factory):
    """A lake of the first days, its warehouse built by a first refresh, then the remaining days added to the
    lake and the warehouse refreshed: (lake, registry, path, first build, refresh)."""
    bucket = tmp_path_factory.mktemp("bucket")
    lake = Lake(LocalStore(tmp_path_factory.mktemp("lake")))
    registry = load_registry(str(archive / "tenants.yaml"))
    copy_bucket(archive, bucket, until=CUTOFF)
    ingest(archive, bucket, lake, registry, arrival_days(archive, until=CUTOFF))
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    first = refresh_warehouse(lake, registry, path)
    copy_bucket(archive, bucket)
    ingest(archive, bucket, lake, registry, arrival_days(archive, after=CUTOFF))
    refresh = refresh_warehouse(lake, registry, path)
    return lake, registry, path, first, refresh


def test_a_refresh_after_new_days_equals_a_full_rebuild_and_reads_only_those_days(grown, archive, tmp_path):
    lake, registry, path, first, refresh = grown
    assert (first.mode, first.reason) == (FULL, "no warehouse file with a build state")
    assert refresh.mode == INCREMENTAL and refresh.reason == ""
    assert {"messages", "events", "message_threads"} <= set(refresh.changed_days)
    assert set(refresh.changed_days["messages"]) <= {d.isoformat() for d in arrival_days(archive, after=CUTOFF)}
    rebuilt = build_warehouse(lake, registry, tmp_path / "rebuilt.duckdb")
    days = {date.fromisoformat(day) for changed in refresh.changed_days.values() for day in changed}
    changed_files = sum(len(lake.partition_files(table, days)) for table in refresh.changed_days)
    assert 0 < refresh.files_read <= changed_files < rebuilt.files_read
    assert refresh.row_counts == rebuilt.row_counts
    assert_same_warehouse(path, rebuilt.path)
    assert read_state(path).cursor == read_state(rebuilt.path).cursor == lake.changes()[1]
    assert not list(path.parent.glob(".*building*"))


def test_a_refresh_with_nothing_new_reads_nothing_and_leaves_the_file(grown):
    lake, registry, path, *_ = grown
    before = path.stat()
    again = refresh_warehouse(lake, registry, path)
    assert (again.mode, again.files_read, again.changed_days, again.models) == (UNCHANGED, 0, {}, [])
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert again.row_counts["messages"] > 0


def rename(lake: Lake, old: str, new: str, tenant: str, on: date) -> None:
    """Record in the lake that thread `old` was joined into `new` (the day's only rename)."""
    row = {"tenant_id": tenant, "old_thread_id": old, "thread_id": new,
           "renamed_at": datetime(on.year, on.month, on.day, 12, tzinfo=UTC), DAY_COLUMN: on}  # fmt: skip
    rows = pa.Table.from_pylist([row], schema=with_day(THREAD_RENAMES))
    lake.replace_partitions("thread_renames", "renames", {on}, rows, day_column=DAY_COLUMN)


def test_renames_reach_messages_of_earlier_days_through_every_step(grown, tmp_path):
    """Thread x joined into y, then y into z (on days with no mail): x's messages, threaded days before,
    read z, and every table equals a full rebuild's after each step."""
    lake, registry, path, *_ = grown
    with duckdb.connect(str(path), read_only=True) as connection:
        current = connection.execute(
            "select tenant_id, thread_id, min(date) from messages where thread_id is not null "
            "group by all having count(*) > 1 order by 3, 2"
        ).fetchall()
    tenant = current[0][0]  # threads never join across tenants: x, y and z are one tenant's
    (_, x, first_day), (_, y, _), (_, z, _) = [row for row in current if row[0] == tenant][:3]
    for step, (old, new) in enumerate(((x, y), (y, z))):
        rename(lake, old, new, tenant, date(2026, 12, 1 + step))
        refresh = refresh_warehouse(lake, registry, path)
        assert refresh.mode == INCREMENTAL and list(refresh.changed_days) == ["thread_renames"]
        assert refresh.files_read == 1  # the rename's own file: the messages are recomputed from the file
        rebuilt = build_warehouse(lake, registry, tmp_path / f"rebuilt-{step}.duckdb")
        assert_same_warehouse(path, rebuilt.path)
    with duckdb.connect(str(path), read_only=True) as connection:
        threads = connection.execute(
            "select distinct m.thread_id from messages m join message_threads t using (direction, object_key) "
            "where t.thread_id = ?",
            [x],
        ).fetchall()
        assert connection.execute("select count(*) from threads where thread_id in (?, ?)", [x, y]).fetchone()[0] == 0
    assert threads == [(z,)] and first_day < CUTOFF


def test_a_changed_model_file_forces_a_full_rebuild(grown, tmp_path):
    lake, registry, path, *_ = grown
    root = tmp_path / "sql"
    shutil.copytree(PROJECT / "sql", root)
    model = root / "marts" / "tenant_daily.sql"
    model.write_text(model.read_text().replace("-- One row per tenant × UTC day:", "-- One row per tenant and day:"))
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(path, copy)
    rebuilt = refresh_warehouse(lake, registry, copy, models=load_models(root))
    assert (rebuilt.mode, rebuilt.reason) == (FULL, "built from other models")
    with duckdb.connect(str(copy), read_only=True) as connection:
        comment = connection.execute("select comment from duckdb_tables() where table_name = 'tenant_daily'").fetchone()
    assert comment[0].startswith("One row per tenant and day:")
    assert refresh_warehouse(lake, registry, copy, models=load_models(root)).mode == UNCHANGED
    assert refresh_warehouse(lake, registry, copy).reason == "built from other models"


def test_a_full_rebuild_on_request_an_unknown_cursor_or_another_registry(grown, tmp_path):
    lake, registry, path, *_ = grown
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(path, copy)
    assert refresh_warehouse(lake, registry, copy, full_rebuild=True).reason == "requested"
    with duckdb.connect(str(copy)) as connection:
        connection.execute(f"update {BUILD_TABLE} set cursor = '_log/00000000T000000000000Z-gone.json'")
    assert refresh_warehouse(lake, registry, copy).reason.startswith("the lake's log no longer holds the cursor")
    other = TenantRegistry(list(registry.tenants.values())[:1])
    assert refresh_warehouse(lake, other, copy).reason == "built from other tenants or prices"
    with duckdb.connect(str(copy)) as connection:
        connection.execute(f"drop table {BUILD_TABLE}")
    assert refresh_warehouse(lake, registry, copy).reason == "no warehouse file with a build state"


def test_an_s3_lake_is_mirrored_and_a_refresh_downloads_only_what_changed(archive, moto_endpoint, s3_bucket, tmp_path):
    """The lake on S3 (moto): the first build downloads every file into the mirror, a refresh after a new day
    only the changed files, and the result equals a full rebuild."""
    registry = load_registry(str(archive / "tenants.yaml"))
    bucket = tmp_path / "bucket"
    lake = Lake(open_store(f"s3://{s3_bucket}/lake", endpoint_url=moto_endpoint))
    copy_bucket(archive, bucket, until=CUTOFF)
    ingest(archive, bucket, lake, registry, arrival_days(archive, until=CUTOFF))
    path = tmp_path / "warehouse" / "warehouse.duckdb"
    first = refresh_warehouse(lake, registry, path)
    assert first.mode == FULL and first.files_downloaded == first.files_read > 0
    assert len(list(mirror_folder(path).rglob("*.parquet"))) == first.files_read
    copy_bucket(archive, bucket)
    ingest(archive, bucket, lake, registry, arrival_days(archive, after=CUTOFF))
    refresh = refresh_warehouse(lake, registry, path)
    assert refresh.mode == INCREMENTAL and 0 < refresh.files_downloaded <= refresh.files_read < first.files_read
    again = build_warehouse(lake, registry, tmp_path / "rebuilt" / "warehouse.duckdb")
    assert again.files_downloaded == again.files_read
    assert_same_warehouse(path, again.path)
    assert refresh_warehouse(lake, registry, path).files_downloaded == 0
