"""The arrivals index and the rules that decide when a mail run trusts it: the first run lists and fills it,
later runs of past days read it without listing, the live feed and the outbound ranged listing find
today's mail, mail that reaches no feed is still found, re-runs change nothing, and a relist repairs
damage. Over a local folder and over a moto S3 server."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from pipelines.mail.ingest import ingest_mime
from pipelines.mail.selection import (
    FROM_INDEX,
    FROM_LISTING,
    FROM_RANGE,
    LISTING_SLACK,
    ranged_outbound,
    record_arrivals,
    select_days,
)
from pipelines.storage.arrivals import INDEX_PREFIX, LISTED_PART, LIVE_PAUSE, ArrivalsIndex
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore, ObjectInfo, S3Store
from pipelines.storage.schemas import INBOUND, OUTBOUND
from pipelines.tenants import load_registry
from tests.conftest import upload_folder


class CountingStore(LocalStore):
    """A folder store that records the prefix of every listing."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.listed: list[str] = []

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        self.listed.append(prefix)
        return super().list(prefix, start_after)


def full_listings(store: CountingStore, prefix: str) -> int:
    return store.listed.count(prefix)


def today() -> date:
    return datetime.now(UTC).date()


def index_files(lake_dir: Path) -> dict[str, bytes]:
    """The index's Parquet files (the listing's horizon, a time, is left out)."""
    root = lake_dir / INDEX_PREFIX
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def lake_files(lake_dir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(lake_dir).as_posix(): p.read_bytes()
        for p in sorted(lake_dir.rglob("*.parquet"))
        if not p.relative_to(lake_dir).as_posix().startswith("_")
    }


@pytest.fixture
def bucket(small_archive: Path, tmp_path: Path) -> Path:
    """A writable copy of the small archive (same keys, same arrival times)."""
    target = tmp_path / "bucket"
    shutil.copytree(small_archive, target, copy_function=shutil.copy2, ignore=shutil.ignore_patterns("_truth"))
    return target


def land(bucket: Path, key: str, template: Path, arrived: datetime) -> ObjectInfo:
    """Put a copy of `template` at `key`, arriving at `arrived`."""
    path = bucket / key
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    os.utime(path, (arrived.timestamp(), arrived.timestamp()))
    return LocalStore(bucket).info(key)


def outbound_key(tenant: str, sent: datetime, region: str = "0100") -> str:
    return f"outbound/{tenant}/{region}{int(sent.timestamp() * 1000):012x}-{uuid.uuid4()}-000000.eml"


def first_inbound(bucket: Path) -> Path:
    return sorted((bucket / "inbound").iterdir())[0]


def first_outbound(bucket: Path) -> tuple[str, Path]:
    tenant = sorted(p.name for p in (bucket / "outbound").iterdir())[0]
    return tenant, sorted((bucket / "outbound" / tenant).iterdir())[0]


def past_days(bucket: Path) -> list[date]:
    return sorted({info.day for info in LocalStore(bucket).list("inbound/")})


def test_the_first_run_lists_and_later_runs_of_past_days_read_the_index(bucket, tmp_path):
    store, lake = CountingStore(bucket), Lake(LocalStore(tmp_path / "lake"))
    registry = load_registry(str(bucket / "tenants.yaml"))
    days = past_days(bucket)

    first = ingest_mime(store, lake, registry, INBOUND, "inbound/", [days[2]], workers=1)
    assert full_listings(store, "inbound/") == 1 and first.found_by == {FROM_LISTING: 1}
    index = ArrivalsIndex(lake.store, INBOUND)
    assert index.days() == days
    for day in days:  # every day of the listing is in the index, not only the day of the run
        assert [o.key for o in index.day_objects(day, index.listing_state())] == sorted(
            o.key for o in LocalStore(bucket).list("inbound/") if o.day == day
        )

    store.listed.clear()
    again = ingest_mime(store, lake, registry, INBOUND, "inbound/", days[:4], workers=1)
    assert store.listed == [] and again.found_by == {FROM_INDEX: 4}
    assert again.objects == sum(1 for o in LocalStore(bucket).list("inbound/") if o.day in days[:4])
    assert again.objects == again.messages + again.quarantined


def test_the_first_partition_takes_older_days_from_the_index(bucket, tmp_path):
    store, lake = CountingStore(bucket), Lake(LocalStore(tmp_path / "lake"))
    registry = load_registry(str(bucket / "tenants.yaml"))
    days = past_days(bucket)
    ingest_mime(store, lake, registry, INBOUND, "inbound/", [days[0]], workers=1)
    store.listed.clear()
    result = ingest_mime(store, lake, registry, INBOUND, "inbound/", days[3:], include_earlier=True, workers=1)
    assert store.listed == [] and result.days == days
    assert result.objects == sum(1 for _ in LocalStore(bucket).list("inbound/"))


def test_the_live_feed_lets_todays_inbound_run_skip_the_listing(bucket, tmp_path):
    store, lake = CountingStore(bucket), Lake(LocalStore(tmp_path / "lake"))
    registry = load_registry(str(bucket / "tenants.yaml"))
    now = datetime.now(UTC)
    # the feed has been running since before the first listing's horizon, never pausing
    record_arrivals(lake, INBOUND, [], now=now - LISTING_SLACK - LIVE_PAUSE / 2)
    record_arrivals(lake, INBOUND, [], now=now - LISTING_SLACK)
    ingest_mime(store, lake, registry, INBOUND, "inbound/", [past_days(bucket)[0]], workers=1)

    fed = land(bucket, "inbound/fedbylivepath0001", first_inbound(bucket), now)
    assert record_arrivals(lake, INBOUND, [fed]) == 1
    assert record_arrivals(lake, INBOUND, [fed]) == 1  # the same objects again: the same file
    store.listed.clear()
    result = ingest_mime(store, lake, registry, INBOUND, "inbound/", [today()], workers=1)
    assert store.listed == [] and result.found_by == {FROM_INDEX: 1}
    assert result.objects == 1 and result.messages == 1
    keys = lake.read_table("messages", days={today()}, columns=["object_key"])["object_key"].to_pylist()
    assert keys == [fed.key]
    live_parts = [k for k in index_files(tmp_path / "lake") if k.startswith(f"inbound/date={today()}/live-")]
    assert len(live_parts) == 1


def test_inbound_mail_no_feed_saw_is_found_by_a_listing(bucket, tmp_path):
    """Today without a live feed, and a past day that ended after the last listing: both are listed."""
    store, lake = CountingStore(bucket), Lake(LocalStore(tmp_path / "lake"))
    registry = load_registry(str(bucket / "tenants.yaml"))
    ingest_mime(store, lake, registry, INBOUND, "inbound/", [past_days(bucket)[0]], workers=1)

    now = datetime.now(UTC)
    new = land(bucket, "inbound/arrivedwithoutanyfeed01", first_inbound(bucket), now)
    store.listed.clear()
    result = ingest_mime(store, lake, registry, INBOUND, "inbound/", [today()], workers=1)
    assert full_listings(store, "inbound/") == 1 and result.found_by == {FROM_LISTING: 1}
    assert result.objects == 1 and result.messages == 1

    # a listing two days ago: yesterday ended after it, so yesterday is listed again, and its late mail found
    yesterday = today() - timedelta(days=1)
    index = ArrivalsIndex(lake.store, INBOUND)
    every = list(LocalStore(bucket).list("inbound/"))
    index.record_listing([o for o in every if o.key != new.key], now - timedelta(days=2))
    late = land(bucket, "inbound/arrivedlateyesterday01", first_inbound(bucket), now - timedelta(days=1))
    store.listed.clear()
    result = ingest_mime(store, lake, registry, INBOUND, "inbound/", [yesterday], workers=1)
    assert full_listings(store, "inbound/") == 1 and result.objects == 1
    assert late.key in {o.key for o in index.day_objects(yesterday, index.listing_state())}


def test_todays_outbound_mail_is_found_by_a_ranged_listing(bucket, tmp_path):
    store, lake = CountingStore(bucket), Lake(LocalStore(tmp_path / "lake"))
    registry = load_registry(str(bucket / "tenants.yaml"))
    ingest_mime(store, lake, registry, OUTBOUND, "outbound/", [past_days(bucket)[0]], workers=1)
    tenant, template = first_outbound(bucket)
    start = datetime.combine(today(), datetime.min.time(), UTC)
    now = datetime.now(UTC)
    sent_today = land(bucket, outbound_key(tenant, now), template, now)
    # sent an hour before midnight, archived after it: today's partition, found within the slack
    before_midnight = land(bucket, outbound_key(tenant, start - timedelta(hours=1)), template, start)
    eu = land(bucket, outbound_key(tenant, now, region="0102"), template, now)
    odd = land(bucket, f"outbound/{tenant}/not-an-ses-id.eml", template, now)

    store.listed.clear()
    result = ingest_mime(store, lake, registry, OUTBOUND, "outbound/", [today()], workers=1)
    assert full_listings(store, "outbound/") == 0 and result.found_by == {FROM_RANGE: 1}
    assert all(prefix.startswith("outbound/") and prefix.count("/") == 2 for prefix in store.listed)
    keys = set(lake.read_table("messages", days={today()}, columns=["object_key"])["object_key"].to_pylist())
    keys |= set(lake.read_table("quarantine", days={today()}, columns=["source_key"])["source_key"].to_pylist())
    assert keys == {sent_today.key, before_midnight.key, eu.key}  # the odd key waits for a full listing

    relisted = ingest_mime(store, lake, registry, OUTBOUND, "outbound/", [today()], workers=1, relist=True)
    assert relisted.found_by == {FROM_LISTING: 1} and relisted.objects == 4
    assert odd.key in {o.key for o in ArrivalsIndex(lake.store, OUTBOUND).day_objects(today(), None)}


def test_the_ranged_listing_stops_at_the_days_end(bucket):
    tenant, template = first_outbound(bucket)
    day = today() - timedelta(days=3)
    start = datetime.combine(day, datetime.min.time(), UTC)
    inside = land(bucket, outbound_key(tenant, start + timedelta(hours=5)), template, start + timedelta(hours=5))
    land(bucket, outbound_key(tenant, start + timedelta(days=1, hours=1)), template, start + timedelta(days=1))
    land(bucket, outbound_key(tenant, start - timedelta(hours=3)), template, start - timedelta(hours=3))
    found = ranged_outbound(LocalStore(bucket), "outbound/", day)
    assert [info.key for info in found] == [inside.key]


def test_reruns_give_the_same_index_and_lake(bucket, tmp_path):
    registry = load_registry(str(bucket / "tenants.yaml"))
    days = past_days(bucket)
    results = []
    for run in range(2):
        lake_dir = tmp_path / f"lake{run}"
        lake = Lake(LocalStore(lake_dir))
        for _ in range(2):
            for direction in (INBOUND, OUTBOUND):
                ingest_mime(LocalStore(bucket), lake, registry, direction, f"{direction}/", days[:3], workers=1)
        record_arrivals(lake, INBOUND, list(LocalStore(bucket).list("inbound/"))[:7])
        record_arrivals(lake, INBOUND, list(LocalStore(bucket).list("inbound/"))[:7])
        results.append((index_files(lake_dir), lake_files(lake_dir)))
    assert results[0] == results[1]
    assert results[0][0] and results[0][1]


def test_a_relist_repairs_a_damaged_index(bucket, tmp_path):
    store, lake_dir = CountingStore(bucket), tmp_path / "lake"
    lake = Lake(LocalStore(lake_dir))
    registry = load_registry(str(bucket / "tenants.yaml"))
    days = past_days(bucket)
    ingest_mime(store, lake, registry, INBOUND, "inbound/", days[:1], workers=1)
    healthy = index_files(lake_dir)
    index = ArrivalsIndex(lake.store, INBOUND)

    # a listed part deleted: noticed, and the run lists instead of losing the day's mail
    lake.store.delete(index.part_key(days[1], LISTED_PART))
    store.listed.clear()
    result = ingest_mime(store, lake, registry, INBOUND, "inbound/", [days[1]], workers=1)
    assert full_listings(store, "inbound/") == 1
    assert result.objects == sum(1 for o in LocalStore(bucket).list("inbound/") if o.day == days[1])
    assert index_files(lake_dir) == healthy

    # a part that is not Parquet, and a stray live entry for an object that is not in the bucket
    lake.store.put(index.part_key(days[2], LISTED_PART), b"not parquet")
    ghost = ObjectInfo("inbound/neverarrived", 10, datetime.combine(days[3], datetime.min.time(), UTC))
    index.record_live([ghost])
    store.listed.clear()
    result = ingest_mime(store, lake, registry, INBOUND, "inbound/", [days[2]], workers=1)
    assert full_listings(store, "inbound/") == 1
    assert result.objects == sum(1 for o in LocalStore(bucket).list("inbound/") if o.day == days[2])
    relisted = ingest_mime(store, lake, registry, INBOUND, "inbound/", [days[3]], workers=1, relist=True)
    assert relisted.found_by == {FROM_LISTING: 1}
    assert index_files(lake_dir) == healthy


def test_the_index_over_moto_s3(small_archive, moto_endpoint, s3_bucket, tmp_path):
    """Bootstrap, index reads, the live feed and the ranged listing with boto3 over HTTP."""
    upload_folder(small_archive, s3_bucket, moto_endpoint)
    store = S3Store(f"s3://{s3_bucket}", moto_endpoint)
    lake = Lake(S3Store(f"s3://{s3_bucket}/lake", moto_endpoint))
    registry = load_registry(f"s3://{s3_bucket}/tenants.yaml", moto_endpoint)
    # uploaded objects arrive now: every object is today's
    assert not store.backdated_since("inbound/", datetime.now(UTC) - timedelta(days=1))  # S3 dates arrivals
    first = select_days(store, lake, INBOUND, "inbound/", [today()])
    assert first.found_by == {today(): FROM_LISTING}
    listed = first.objects(today())
    assert len(listed) == sum(1 for _ in LocalStore(small_archive).list("inbound/"))

    client = boto3.client("s3", endpoint_url=moto_endpoint)
    tenant, template = first_outbound(small_archive)
    key = outbound_key(tenant, datetime.now(UTC))
    client.put_object(Bucket=s3_bucket, Key=key, Body=template.read_bytes())
    result = ingest_mime(store, lake, registry, OUTBOUND, "outbound/", [today()], workers=1)
    assert result.found_by == {FROM_LISTING: 1}  # the first outbound run has no index yet
    client.put_object(Bucket=s3_bucket, Key=outbound_key(tenant, datetime.now(UTC)), Body=template.read_bytes())
    again = ingest_mime(store, lake, registry, OUTBOUND, "outbound/", [today()], workers=1)
    assert again.found_by == {FROM_RANGE: 1} and again.objects == result.objects + 1

    index = ArrivalsIndex(lake.store, INBOUND)
    assert index.live_state() is None
    new_key = "inbound/fedbylivepaths3000001"
    client.put_object(Bucket=s3_bucket, Key=new_key, Body=(small_archive / listed[0].key).read_bytes())
    info = store.info(new_key)
    record_arrivals(lake, INBOUND, [info])
    assert new_key in {o.key for o in index.day_objects(today(), index.listing_state())}


def test_a_lost_day_folder_is_noticed_by_a_run_of_the_first_partition(bucket, tmp_path):
    store, lake_dir = CountingStore(bucket), tmp_path / "lake"
    lake = Lake(LocalStore(lake_dir))
    registry = load_registry(str(bucket / "tenants.yaml"))
    days = past_days(bucket)
    ingest_mime(store, lake, registry, INBOUND, "inbound/", days[-1:], workers=1)
    shutil.rmtree(lake_dir / INDEX_PREFIX / INBOUND / f"date={days[1]}")
    store.listed.clear()
    result = ingest_mime(store, lake, registry, INBOUND, "inbound/", days[-1:], include_earlier=True, workers=1)
    assert full_listings(store, "inbound/") == 1
    assert result.days == days and result.objects == sum(1 for _ in LocalStore(bucket).list("inbound/"))


def test_live_parts_are_merged_and_the_feed_restarts_after_a_pause(tmp_path, monkeypatch):
    from pipelines.storage import arrivals

    monkeypatch.setattr(arrivals, "LIVE_PARTS_TO_COMPACT", 2)
    index = ArrivalsIndex(LocalStore(tmp_path), INBOUND)
    start = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    infos = [ObjectInfo(f"inbound/m{i}", 100 + i, start + timedelta(minutes=i)) for i in range(5)]
    for i, info in enumerate(infos[:3]):
        index.record_live([info], now=start + timedelta(minutes=10 * i))
    live = index.live_state()
    assert live is not None and (live.since, live.last) == (start, start + timedelta(minutes=20))

    folder = tmp_path / INDEX_PREFIX / INBOUND / f"date={start.date()}"
    assert len(list(folder.iterdir())) == 3
    assert index.day_objects(start.date(), None) == infos[:3]  # three parts: merged into one
    [merged] = list(folder.iterdir())
    assert merged.name.startswith("live-")
    assert index.day_objects(start.date(), None) == infos[:3]

    later = start + timedelta(minutes=20) + LIVE_PAUSE + timedelta(seconds=1)
    index.record_live(infos[3:], now=later)
    live = index.live_state()
    assert live is not None and live.since == later  # a pause: coverage starts again


def test_a_file_copied_into_a_folder_with_its_old_time_is_found(bucket, tmp_path):
    """`cp -p` into a folder source after the last listing: the file looks as if it arrived on a past day the
    index already holds, but its folder changed, so the run lists."""
    store, lake = CountingStore(bucket), Lake(LocalStore(tmp_path / "lake"))
    registry = load_registry(str(bucket / "tenants.yaml"))
    days = past_days(bucket)
    ingest_mime(store, lake, registry, INBOUND, "inbound/", days[:1], workers=1)
    store.listed.clear()
    assert ingest_mime(store, lake, registry, INBOUND, "inbound/", days[2:3], workers=1).found_by == {FROM_INDEX: 1}

    noon = datetime.combine(days[2], datetime.min.time(), UTC) + timedelta(hours=12)
    copied = land(bucket, "inbound/copiedwithitsoldtime01", first_inbound(bucket), noon)
    result = ingest_mime(store, lake, registry, INBOUND, "inbound/", days[2:3], workers=1)
    assert full_listings(store, "inbound/") == 1 and result.found_by == {FROM_LISTING: 1}
    keys = lake.read_table("messages", days={days[2]}, columns=["object_key"])["object_key"].to_pylist()
    assert copied.key in keys
