"""Which objects a mail run reads for its days: from the arrivals index (`pipelines.storage.arrivals`) when
the index is known to hold every object of a day, else from a listing, which then feeds the index.

H is the horizon of the last full listing of the direction's prefix: its start minus `LISTING_SLACK` (an
object's LastModified is when its upload began, so an upload still in flight when the listing started may
be missing from it). Every object that arrived before H is in the index. For each day D of a run:

1. **Full listing** of the prefix, once per run, recorded in the index (H moves to this listing), when:
   there is no index yet (the first run); the operator asks for it (`relist`, the assets' run config
   `relist: true`); the index is damaged (a part unreadable, or a listed part missing); the run covers all
   days (`days=None`); or some day of the run has ended after H (**an ended day is always read from a
   listing that began after it ended**, so every object of a finished day is found, whatever its key and
   whatever fed or did not feed the index meanwhile; the nightly run of yesterday does this once a day);
   or an inbound day that has not ended without a live feed (rule 4). The run's days are then taken from
   this listing.
2. **D ended at or before H**: the index alone (a backfill, a re-run of a past day): no listing.
3. **Outbound, D not ended (today)**: a bounded listing of D, recorded as D's `ranged` part, plus D's index
   entries. The reply service archives `outbound/<tenant>/<sesMessageId>.eml`, and an SES id starts with a
   4-hex-digit region code (`pipelines.threads.identity.SES_REGION_DOMAINS`) and 12 hex digits of the send
   time in milliseconds, so per tenant folder (a delimited listing) and region code the keys sent from D's
   start minus `OUTBOUND_SEND_SLACK` on are listed with `StartAfter` and the listing stops at the first key
   sent after D's end. Keys of another shape (another region code, another layout) are not seen by this
   listing: they are found by the next full listing, at the latest the one of the first run after D ends.
4. **Inbound, D not ended (today)**: SES names inbound objects by a message id with no time order, so no
   bounded listing exists. When the live path feeds the index (`record_arrivals`), has fed it within
   `LIVE_PAUSE` and without such a pause since before H, the index is trusted for D; otherwise rule 1.

So an object is found by the first run of its day after it arrived (rules 1, 3, 4) or, at the latest, by
the first run after its day ended (rule 1); never lost. Every listing and feed replaces or adds files
deterministically, so re-running anything gives the same index, and the lake files do not depend on how a
day's objects were found. A folder store whose files are copied in with old modification times (earlier
than the last listing) keeps those times, so for a folder rule 2 also requires that no folder under the
prefix changed since that listing began (`ObjectStore.backdated_since`: the folders' ctimes); otherwise
the run lists (rule 1). On S3, LastModified is always the time of arrival and rule 2 needs nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from pipelines.storage.arrivals import LIVE_PAUSE, ArrivalsIndex, IndexDamaged, ListingState
from pipelines.storage.lake import Lake
from pipelines.storage.objects import ObjectInfo, ObjectStore
from pipelines.storage.schemas import INBOUND
from pipelines.threads.identity import SES_REGION_DOMAINS

LISTING_SLACK = timedelta(minutes=15)
"""How much earlier than a full listing's start its horizon is put (uploads in flight, clock skew)."""
OUTBOUND_SEND_SLACK = timedelta(hours=2)
"""How long before a day's start a reply may have been sent and still be archived on that day."""
SEND_TIME_DIGITS = 12
"""Hex digits of the send time (ms) after an SES id's 4-digit region code."""

FROM_INDEX = "index"
FROM_LISTING = "listing"
FROM_RANGE = "ranged listing"
"""How a day's objects were found (`Selection.found_by`)."""


@dataclass
class Selection:
    """The days a run writes, in order, and each day's objects (read when asked for, one day at a time)."""

    store: ObjectStore
    index: ArrivalsIndex
    prefix: str
    days: list[date]
    found_by: dict[date, str] = field(default_factory=dict)
    listing: ListingState | None = None
    listed: dict[date, list[ObjectInfo]] | None = None
    """Every day's objects from this run's full listing, when it made one."""

    def objects(self, day: date) -> list[ObjectInfo]:
        """`day`'s objects in key order."""
        if self.listed is not None:
            return self.listed.get(day, [])
        if self.found_by[day] == FROM_RANGE:
            ranged = ranged_outbound(self.store, self.prefix, day)
            self.index.record_range(day, ranged)
            known = {info.key: info for info in self.index.day_objects(day, self.listing)}
            known.update((info.key, info) for info in ranged if info.day == day)
            return [known[key] for key in sorted(known)]
        return self.index.day_objects(day, self.listing)

    def by_day(self) -> Iterator[tuple[date, list[ObjectInfo]]]:
        """(day, its objects) for every day of the run, in order; a damaged index found on the way is repaired
        by a full listing, from which the remaining days are then taken."""
        for day in self.days:
            try:
                objects = self.objects(day)
            except IndexDamaged:
                self.listed = full_listing(self.store, self.index, self.prefix, rewrite_all=True)
                self.found_by.update(dict.fromkeys(self.days[self.days.index(day) :], FROM_LISTING))
                objects = self.listed.get(day, [])
            yield day, objects


def select_days(
    store: ObjectStore,
    lake: Lake,
    direction: str,
    prefix: str,
    days: Iterable[date] | None,
    *,
    include_earlier: bool = False,
    relist: bool = False,
    now: datetime | None = None,
) -> Selection:
    """What a run of `days` (all days when None; with `include_earlier`, also every older day) reads, by the
    rules of the module docstring."""
    now = now or datetime.now(UTC)
    index = ArrivalsIndex(lake.store, direction)
    wanted = sorted(set(days)) if days is not None else None
    listing = None if relist else index.listing_state()
    if (
        listing is None
        or wanted is None
        or _needs_listing(store, prefix, index, direction, wanted, include_earlier, listing, now)
    ):
        listed = full_listing(store, index, prefix, rewrite_all=relist or listing is None)
        chosen = _days_of_run(wanted, include_earlier, listed)
        found_by = dict.fromkeys(chosen, FROM_LISTING)
        return Selection(store, index, prefix, chosen, found_by, index.listing_state(), listed)
    known = set(index.days()) | {date.fromisoformat(day) for day in listing.day_digests}  # a lost folder is read
    earlier = [day for day in known if include_earlier and day < wanted[0]] if wanted else []
    chosen = sorted(set(earlier) | set(wanted))
    ranged = direction != INBOUND  # an inbound day past the horizon is here only when the live feed covers it
    found_by = {day: FROM_RANGE if ranged and _day_end(day) > listing.listed_before else FROM_INDEX for day in chosen}
    return Selection(store, index, prefix, chosen, found_by, listing)


def full_listing(store: ObjectStore, index: ArrivalsIndex, prefix: str, *, rewrite_all: bool) -> dict[date, list]:
    """List the whole prefix, record it in the index, and return its objects by day (each in key order)."""
    started = datetime.now(UTC)
    by_day: dict[date, list[ObjectInfo]] = {}
    for info in store.list(prefix):
        by_day.setdefault(info.day, []).append(info)
    every = (info for infos in by_day.values() for info in infos)
    index.record_listing(every, started - LISTING_SLACK, started=started, rewrite_all=rewrite_all)
    return {day: sorted(infos, key=lambda info: info.key) for day, infos in by_day.items()}


def ranged_outbound(store: ObjectStore, prefix: str, day: date) -> list[ObjectInfo]:
    """The outbound objects sent from `day`'s start minus `OUTBOUND_SEND_SLACK` to its end, per tenant folder
    and SES region code, by their keys' send time (see the module docstring), in key order."""
    first_ms = int((_day_start(day) - OUTBOUND_SEND_SLACK).timestamp() * 1000)
    last = f"{int(_day_end(day).timestamp() * 1000):0{SEND_TIME_DIGITS}x}"
    found: list[ObjectInfo] = []
    for tenant in store.children(prefix):
        for region in sorted(SES_REGION_DOMAINS):
            folder = f"{prefix}{tenant}/{region}"
            for info in store.list(folder, start_after=f"{folder}{first_ms:0{SEND_TIME_DIGITS}x}"):
                if info.key[len(folder) : len(folder) + SEND_TIME_DIGITS] > last:
                    break
                found.append(info)
    return sorted(found, key=lambda info: info.key)


def record_arrivals(lake: Lake, direction: str, objects: Sequence[ObjectInfo], now: datetime | None = None) -> int:
    """Feed the arrivals index from the live path: call it with the `ObjectInfo` of every object the hand-off
    looked up by key (`ObjectStore.info`), whatever then becomes of the object, before or after processing
    it. The objects are found by the next run of their day without a listing; while calls keep coming (at
    most `LIVE_PAUSE` apart), runs of the current inbound day trust the index instead of listing the prefix.
    Feeding the same objects again changes nothing. Returns the number of index files written."""
    return ArrivalsIndex(lake.store, direction).record_live(objects, now)


def _needs_listing(
    store: ObjectStore,
    prefix: str,
    index: ArrivalsIndex,
    direction: str,
    days: list[date],
    include_earlier: bool,
    listing: ListingState,
    now: datetime,
) -> bool:
    """Rule 1 of the module docstring, for an index that has a listing."""
    horizon = listing.listed_before
    if include_earlier and days and _day_start(days[0]) > horizon:
        return True  # an older day may have ended after the horizon
    if (include_earlier or any(_day_end(day) <= horizon for day in days)) and store.backdated_since(
        prefix, listing.started
    ):
        return True  # files copied into a folder with their old times since the listing
    for day in days:
        if _day_end(day) <= horizon:
            continue
        if _day_end(day) <= now:
            return True
        if direction == INBOUND:
            live = index.live_state()
            if live is None or live.since > horizon or now - live.last > LIVE_PAUSE:
                return True
    return False


def _days_of_run(wanted: list[date] | None, include_earlier: bool, listed: dict[date, list]) -> list[date]:
    if wanted is None:
        return sorted(listed)
    earlier = [day for day in listed if include_earlier and wanted and day < wanted[0]]
    return sorted(set(wanted) | set(earlier))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _day_end(day: date) -> datetime:
    return _day_start(day + timedelta(days=1))
