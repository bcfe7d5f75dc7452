"""The arrivals index: which objects arrived in the bucket on which UTC day, kept in the lake so that a run
for a few days reads those days' entries instead of listing the whole bucket.

Layout, per direction (`inbound`, `outbound`), under the lake's `_index/arrivals/<direction>/`:

- `date=<YYYY-MM-DD>/<part>.parquet`: one row per object (key, size, last_modified), key order. Parts:
  `listed` (what the last full listing saw that day, replaced as a whole by each full listing), `ranged`
  (what the last bounded listing of that day saw, replaced as a whole by each), and `live-<digest>` (what
  the live path looked up by key; the digest is of the keys, so feeding the same objects again writes the
  same file). A day's entries are the union of its parts, one per key.
- `listing.json`: the last full listing's start and horizon (`listed_before`: every object that arrived
  before it is in some `listed` part) and the digest of each day's `listed` part (so a listing rewrites only the days
  that changed, and a missing part is noticed).
- `live.json`: since when the live feed has been feeding without a pause (`since`, `last`).

Every file is written whole (`ObjectStore.put`: temporary file and rename locally, one PUT on S3), so a
reader sees the old or the new file; files are deterministic, so re-running any writer gives the same
index. Which day a run trusts the index for is decided in `pipelines.mail.arrivals`.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.storage.objects import ObjectInfo, ObjectStore
from pipelines.storage.schemas import LIVE_PART_PREFIX

INDEX_PREFIX = "_index/arrivals/"
LISTED_PART = "listed"
RANGED_PART = "ranged"
LISTING_STATE = "listing.json"
LIVE_STATE = "live.json"
LIVE_PAUSE = timedelta(minutes=30)
"""A live feed silent for longer than this is taken to have stopped: its coverage starts again."""
LIVE_PARTS_TO_COMPACT = 64
"""A day read with more live parts than this has them merged into one (the others removed)."""

SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("last_modified", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


class IndexDamaged(Exception):
    """A part of the index cannot be read, or one the listing state names is missing: relist to repair."""


@dataclass(frozen=True)
class ListingState:
    """What the last full listing covered."""

    listed_before: datetime
    day_digests: dict[str, str]
    started: datetime
    """When the listing began (`listed_before` is earlier by a slack)."""


@dataclass(frozen=True)
class LiveState:
    """Since when the live feed has fed the index without a pause longer than `LIVE_PAUSE`, and its last feed."""

    since: datetime
    last: datetime


def infos_to_table(infos: Iterable[ObjectInfo]) -> pa.Table:
    """Object infos as an index table, in key order, one row per key (the last info given for a key wins)."""
    by_key = {info.key: info for info in infos}
    ordered = [by_key[key] for key in sorted(by_key)]
    return pa.table(
        {
            "key": pa.array([info.key for info in ordered], pa.string()),
            "size": pa.array([info.size for info in ordered], pa.int64()),
            "last_modified": pa.array([info.last_modified for info in ordered], pa.timestamp("us", tz="UTC")),
        },
        schema=SCHEMA,
    )


def table_to_infos(table: pa.Table) -> list[ObjectInfo]:
    """The index rows as `ObjectInfo`s, in the table's order."""
    keys = table.column("key").to_pylist()
    sizes = table.column("size").to_pylist()
    times = table.column("last_modified").to_pylist()
    return [ObjectInfo(k, s, t.astimezone(UTC)) for k, s, t in zip(keys, sizes, times, strict=True)]


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as Parquet bytes; the same rows always give the same bytes."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


class ArrivalsIndex:
    """The arrivals index of one direction in a lake's store (see the module docstring)."""

    def __init__(self, store: ObjectStore, direction: str) -> None:
        self.store = store
        self.direction = direction
        self.prefix = f"{INDEX_PREFIX}{direction}/"

    def day_prefix(self, day: date) -> str:
        return f"{self.prefix}date={day.isoformat()}/"

    def part_key(self, day: date, part: str) -> str:
        return f"{self.day_prefix(day)}{part}.parquet"

    # --------------------------------------------------------------- state
    def listing_state(self) -> ListingState | None:
        """The last full listing's state, or None when no listing was recorded (or its file is unreadable)."""
        raw = self._read_json(LISTING_STATE)
        if raw is None:
            return None
        try:
            listed_before = datetime.fromisoformat(raw["listed_before"])
            return ListingState(listed_before, dict(raw["days"]), datetime.fromisoformat(raw["started"]))
        except (KeyError, TypeError, ValueError):
            return None

    def live_state(self) -> LiveState | None:
        raw = self._read_json(LIVE_STATE)
        if raw is None:
            return None
        try:
            return LiveState(datetime.fromisoformat(raw["since"]), datetime.fromisoformat(raw["last"]))
        except (KeyError, TypeError, ValueError):
            return None

    def _read_json(self, name: str) -> dict | None:
        if self.store.info(self.prefix + name) is None:
            return None
        try:
            value = json.loads(self.store.get(self.prefix + name))
        except (ValueError, OSError):
            return None
        return value if isinstance(value, dict) else None

    # --------------------------------------------------------------- writers
    def record_listing(
        self,
        objects: Iterable[ObjectInfo],
        listed_before: datetime,
        *,
        started: datetime | None = None,
        rewrite_all: bool = False,
    ) -> int:
        """Record a full listing: each day's `listed` part becomes exactly what the listing saw that day (a day
        no longer seen loses its part), `ranged` and `live` parts of days before `listed_before` are removed
        (the listing holds what they held), and the horizon becomes `listed_before` (`started`: when the
        listing began, `listed_before` when not given). Days whose part is unchanged are not rewritten
        unless `rewrite_all` (a relist, which also repairs damaged files). Returns the day parts written."""
        by_day: dict[date, list[ObjectInfo]] = {}
        for info in objects:
            by_day.setdefault(info.day, []).append(info)
        previous = self.listing_state()
        old_digests = previous.day_digests if previous is not None and not rewrite_all else {}
        digests: dict[str, str] = {}
        written = 0
        for day in sorted(by_day):
            data = parquet_bytes(infos_to_table(by_day[day]))
            digest = hashlib.sha256(data).hexdigest()
            digests[day.isoformat()] = digest
            if old_digests.get(day.isoformat()) != digest or rewrite_all:
                self.store.put(self.part_key(day, LISTED_PART), data)
                written += 1
        for day, part in self._all_parts():  # one listing of the index, not one per day
            if part == LISTED_PART:
                stale = day.isoformat() not in digests
            else:
                stale = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) <= listed_before
            if stale:
                self.store.delete(self.part_key(day, part))
        started = started or listed_before
        state = {"listed_before": listed_before.isoformat(), "started": started.isoformat(), "days": digests}
        self.store.put(self.prefix + LISTING_STATE, json.dumps(state, sort_keys=True).encode())
        return written

    def record_range(self, day: date, objects: Iterable[ObjectInfo]) -> None:
        """Record a bounded listing of `day`: its `ranged` part becomes the objects given that arrived that day."""
        table = infos_to_table(info for info in objects if info.day == day)
        self.store.put(self.part_key(day, RANGED_PART), parquet_bytes(table))

    def record_live(self, objects: Iterable[ObjectInfo], now: datetime | None = None) -> int:
        """Add objects the live path looked up by key: one `live-<digest>` part per day they arrived on (the
        same objects always give the same file), and the feed's `live.json` moves on. Returns parts written."""
        now = now or datetime.now(UTC)
        by_day: dict[date, list[ObjectInfo]] = {}
        for info in objects:
            by_day.setdefault(info.day, []).append(info)
        for day, infos in sorted(by_day.items()):
            table = infos_to_table(infos)
            digest = hashlib.sha256("\n".join(table.column("key").to_pylist()).encode()).hexdigest()[:16]
            self.store.put(self.part_key(day, f"{LIVE_PART_PREFIX}{digest}"), parquet_bytes(table))
        live = self.live_state()
        continuing = live is not None and abs(now - live.last) <= LIVE_PAUSE
        since = live.since if continuing else now
        last = max(now, live.last) if continuing else now
        state = {"since": since.isoformat(), "last": last.isoformat()}
        self.store.put(self.prefix + LIVE_STATE, json.dumps(state, sort_keys=True).encode())
        return len(by_day)

    # --------------------------------------------------------------- readers
    def day_objects(self, day: date, listing: ListingState | None) -> list[ObjectInfo]:
        """The objects the index holds for `day`, in key order, one per key. Raises `IndexDamaged` when a part
        cannot be read or the `listed` part the listing state names is missing. Many live parts are merged."""
        parts = self._parts(day)
        if listing is not None and day.isoformat() in listing.day_digests and LISTED_PART not in parts:
            raise IndexDamaged(f"{self.part_key(day, LISTED_PART)} is missing")
        tables = []
        for part in parts:
            key = self.part_key(day, part)
            try:
                table = pq.read_table(io.BytesIO(self.store.get(key)), schema=SCHEMA)
            except Exception as exc:  # noqa: BLE001 - any unreadable part means the index must be relisted
                raise IndexDamaged(f"{key}: {type(exc).__name__}: {exc}") from exc
            tables.append(table)
        merged = table_to_infos(pa.concat_tables(tables)) if tables else []
        live = [part for part in parts if part.startswith(LIVE_PART_PREFIX)]
        if len(live) > LIVE_PARTS_TO_COMPACT:
            self._compact_live(day, live)
        by_key = {info.key: info for info in merged}
        return [by_key[key] for key in sorted(by_key)]

    def days(self) -> list[date]:
        """Every day the index holds a part for."""
        return sorted(date.fromisoformat(name.removeprefix("date=")) for name in self._day_folders())

    def _compact_live(self, day: date, parts: list[str]) -> None:
        """Merge a day's live parts into one (written before the others are removed: no entry is ever absent)."""
        tables = [pq.read_table(io.BytesIO(self.store.get(self.part_key(day, part))), schema=SCHEMA) for part in parts]
        infos = table_to_infos(pa.concat_tables(tables))
        table = infos_to_table(infos)
        digest = hashlib.sha256("\n".join(table.column("key").to_pylist()).encode()).hexdigest()[:16]
        merged = f"{LIVE_PART_PREFIX}{digest}"
        self.store.put(self.part_key(day, merged), parquet_bytes(table))
        for part in parts:
            if part != merged:
                self.store.delete(self.part_key(day, part))

    def _all_parts(self) -> list[tuple[date, str]]:
        """(day, part) of every file of the index."""
        found = []
        for info in self.store.list(self.prefix):
            folder, _, name = info.key[len(self.prefix) :].partition("/")
            if folder.startswith("date=") and name.endswith(".parquet") and "/" not in name:
                try:
                    found.append((date.fromisoformat(folder.removeprefix("date=")), name.removesuffix(".parquet")))
                except ValueError:
                    continue
        return found

    def _day_folders(self) -> list[str]:
        return [name for name in self.store.children(self.prefix) if name.startswith("date=")]

    def _parts(self, day: date) -> list[str]:
        names = self.store.children(self.day_prefix(day))
        return sorted(name.removesuffix(".parquet") for name in names if name.endswith(".parquet"))
