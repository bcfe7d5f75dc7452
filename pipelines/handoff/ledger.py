"""The hand-off ledger: one database row per inbound message handed to the reply service.

It is what makes the hand-off at-least-once without resending delivered mail: a message is recorded as
`pending` with the exact signed body, then marked `delivered`, retried later, or `dead_letter`ed. Every
method commits before it returns, so once `record_pending` or a `mark_*` call has returned, that state
survives a crash; only then may the caller delete the SQS message it came from. Several processes (the
Dagster sensor, run workers, the CLI) may open the same ledger at once; `due(..., lease=...)` hands each
record to one caller at a time, and a state another process settled (delivered) is never downgraded.

The ledger lives in one of two databases, chosen by `HandoffLedger`'s location:

* a file path: SQLite (`pipelines.handoff.ledger_sqlite`), the embedded default. WAL mode with
  `synchronous=FULL` makes each commit durable; writes take SQLite's write lock up front (`BEGIN IMMEDIATE`)
  and wait up to `busy_timeout` seconds for it, so every write transaction, a lease included, runs alone.
  Keep the file on a local disk; SQLite's locking is unreliable on network filesystems.
* a `postgresql://user@host:port/db` URL: PostgreSQL (`pipelines.handoff.ledger_postgres`), for workers on
  several machines. A commit is durable as far as the server's `fsync` and `synchronous_commit` (both on by
  default) make it. A write transaction locks the row it reads before changing it (`SELECT ... FOR UPDATE`),
  and `due` with a lease takes only rows no other transaction holds (`FOR UPDATE SKIP LOCKED`) and moves
  them `lease` ahead before committing; a lock is waited for at most `busy_timeout` seconds. The tables
  (created when missing, under the same names as in SQLite) live in the connection's schema, the first of
  its `search_path`.

Both keep instants as the same fixed-width UTC text (compared bytewise in PostgreSQL, `collate "C"`), so
they sort and compare in SQL like the instants they name.

States:

* `pending`: to be sent at `next_attempt_at` (new records are due at once);
* `delivered`: accepted by the reply service (`delivered_at`);
* `dead_letter`: refused permanently, or still failing when the retry budget ran out; waits for a replay.

Retry schedule of the ledger (the rounds between the quick retries of `pipelines.delivery.deliver`): a
failed round is retried 1 min, 5 min, 15 min, 1 h and 3 h after the previous one, then every 6 h, counted
from `pending_since` (when the message became pending, or was reset for replay) so a late sensor tick never
causes a burst. When the next round would fall more than `max_age` (72 h, SendGrid's inbound horizon) after
`pending_since`, the record becomes a dead letter instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

PENDING = "pending"
DELIVERED = "delivered"
DEAD_LETTER = "dead_letter"
STATES = (PENDING, DELIVERED, DEAD_LETTER)

RETRY_DELAYS: tuple[int, ...] = (60, 300, 900, 3600, 3 * 3600, 6 * 3600)
"""Seconds between failed rounds; the last value repeats."""
MAX_AGE = timedelta(hours=72)
"""How long a message keeps being retried before it becomes a dead letter."""
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
"""Locations starting with one of these are PostgreSQL connection URLs; any other is a SQLite file."""

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""Fixed-width UTC text: sorts and compares in SQL like the instants it names."""

SCHEMA = """
create table if not exists handoffs (
    event_id        {text} primary key,
    tenant_id       {text} not null,
    ses_message_id  text not null,
    object_key      text not null,
    thread_id       text,
    state           text not null check (state in ('pending', 'delivered', 'dead_letter')),
    attempts        integer not null default 0,
    last_error      text,
    last_status     integer,
    created_at      {text} not null,
    updated_at      {text} not null,
    delivered_at    {text},
    next_attempt_at {text},
    pending_since   {text} not null,
    payload         {bytes} not null
);
create index if not exists handoffs_due on handoffs (state, next_attempt_at);
create index if not exists handoffs_tenant on handoffs (tenant_id, state);
create index if not exists handoffs_object on handoffs (object_key);
create table if not exists finished_objects (
    object_key  text primary key,
    outcome     text not null,
    finished_at {text} not null
);
"""
"""The ledger's tables; each back end fills in `{text}` (text that sorts bytewise) and `{bytes}` (a blob)."""

_COLUMNS = (
    "event_id, tenant_id, ses_message_id, object_key, thread_id, state, attempts, last_error, last_status, "
    "created_at, updated_at, delivered_at, next_attempt_at, pending_since, payload"
)
_FIELDS = tuple(name.strip() for name in _COLUMNS.split(","))
_TIMES = ("created_at", "updated_at", "delivered_at", "next_attempt_at", "pending_since")


class LedgerCursor(Protocol):
    """What a statement returns: its rows, or how many rows it changed."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class LedgerDatabase(Protocol):
    """The seam between the ledger's logic and a database: one connection, used by one thread at a time.

    Statements are written once, with `?` placeholders and SQL that SQLite and PostgreSQL both accept
    (`on conflict ... do nothing` included); a back end rewrites the placeholders when its driver needs it."""

    kind: str
    """`sqlite` or `postgresql`."""
    lock_row: str
    """Appended to a select whose rows the same write transaction then changes, so no other writer changes
    them in between ('' where a write transaction already runs alone)."""
    lock_free_rows: str
    """Appended to `due`'s select when it leases: take only rows no other transaction holds."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> LedgerCursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction, committed on leaving, rolled back on an exception."""
        ...

    def close(self) -> None: ...


def is_postgres_url(location: str | Path) -> bool:
    """Whether a ledger location (SESLAKE_HANDOFF_LEDGER) names a PostgreSQL database rather than a file."""
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def open_database(location: str | Path, busy_timeout: float) -> LedgerDatabase:
    """A connection to the ledger at `location`, its tables created when missing."""
    if is_postgres_url(location):
        from pipelines.handoff.ledger_postgres import PostgresDatabase

        return PostgresDatabase(str(location), SCHEMA, busy_timeout)
    from pipelines.handoff.ledger_sqlite import SqliteDatabase

    return SqliteDatabase(Path(location), SCHEMA, busy_timeout)


@dataclass(frozen=True, slots=True)
class HandoffRecord:
    event_id: str
    tenant_id: str
    ses_message_id: str
    object_key: str
    thread_id: str | None
    state: str
    attempts: int
    """HTTP attempts made so far, over all rounds and replays."""
    last_error: str | None
    """The latest failure's reason; cleared by a delivery."""
    last_status: int | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    """When a pending record is due; None in the other states."""
    pending_since: datetime
    """Start of the current retry budget: recording, or the last reset for replay."""
    payload: bytes
    """The exact body that was signed and sent; a replay sends it again under the same event id."""


class HandoffLedger:
    """The ledger at `location`: a SQLite file path (created with its folder when missing) or a
    `postgresql://` URL (its tables created when missing). Usable from several threads."""

    def __init__(
        self,
        location: str | Path,
        *,
        retry_delays: Sequence[int] = RETRY_DELAYS,
        max_age: timedelta = MAX_AGE,
        busy_timeout: float = 30.0,
    ) -> None:
        if not retry_delays or min(retry_delays) <= 0:
            raise ValueError("retry_delays must be positive seconds, at least one")
        self.location = location
        self.path = None if is_postgres_url(location) else Path(location)
        """The SQLite file; None for PostgreSQL."""
        self.retry_delays = tuple(retry_delays)
        self.max_age = max_age
        self._lock = threading.Lock()
        self._db = open_database(location, busy_timeout)
        self.kind = self._db.kind
        """`sqlite` or `postgresql`: the database the location chose."""

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> HandoffLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------
    # Writes

    def record_pending(
        self,
        event_id: str,
        *,
        tenant_id: str,
        ses_message_id: str,
        object_key: str,
        thread_id: str | None,
        payload: bytes,
        now: datetime | None = None,
    ) -> HandoffRecord:
        """Record a message to hand off, due at once. An event already recorded keeps its state and
        payload (a redelivered SQS notification changes nothing); the stored record is returned."""
        stamp = _text(now)
        with self._write() as db:
            db.execute(
                "insert into handoffs (event_id, tenant_id, ses_message_id, object_key, thread_id, state, attempts, "
                "created_at, updated_at, next_attempt_at, pending_since, payload) "
                "values (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?) on conflict (event_id) do nothing",
                (event_id, tenant_id, ses_message_id, object_key, thread_id, PENDING, stamp, stamp, stamp, stamp,
                 payload),
            )  # fmt: skip
            return self._get(db, event_id)

    def mark_delivered(
        self, event_id: str, *, attempts: int = 1, status: int | None = None, now: datetime | None = None
    ) -> HandoffRecord:
        """The reply service accepted it (after `attempts` more HTTP attempts)."""
        stamp = _text(now)
        with self._write() as db:
            self._require(db, event_id)
            db.execute(
                "update handoffs set state = ?, attempts = attempts + ?, last_status = ?, last_error = null, "
                "delivered_at = ?, next_attempt_at = null, updated_at = ? where event_id = ?",
                (DELIVERED, attempts, status, stamp, stamp, event_id),
            )
            return self._get(db, event_id)

    def mark_attempt_failed(
        self,
        event_id: str,
        *,
        error: str,
        status: int | None = None,
        attempts: int = 1,
        now: datetime | None = None,
    ) -> HandoffRecord:
        """A round failed in a retryable way: stays pending until the next round of the schedule, or becomes
        a dead letter when that round would fall past `max_age`. A record that is no longer pending (another
        process delivered it meanwhile) only has its attempts counted."""
        moment = now or datetime.now(UTC)
        with self._write() as db:
            record = self._require(db, event_id)
            if record.state != PENDING:
                return self._count_attempts(db, event_id, attempts, _text(moment))
            due = self.next_round(record.pending_since, moment)
            state, next_at = (PENDING, _text(due)) if due is not None else (DEAD_LETTER, None)
            if due is None:
                error = f"retry budget of {self.max_age} spent: {error}"
            db.execute(
                "update handoffs set state = ?, attempts = attempts + ?, last_error = ?, last_status = ?, "
                "next_attempt_at = ?, updated_at = ? where event_id = ?",
                (state, attempts, error, status, next_at, _text(moment), event_id),
            )
            return self._get(db, event_id)

    def mark_dead_letter(
        self,
        event_id: str,
        *,
        error: str,
        status: int | None = None,
        attempts: int = 1,
        now: datetime | None = None,
    ) -> HandoffRecord:
        """Refused permanently (or a replay failed again). A delivered record stays delivered and only has its
        attempts counted."""
        stamp = _text(now)
        with self._write() as db:
            record = self._require(db, event_id)
            if record.state == DELIVERED:
                return self._count_attempts(db, event_id, attempts, stamp)
            db.execute(
                "update handoffs set state = ?, attempts = attempts + ?, last_error = ?, last_status = ?, "
                "next_attempt_at = null, updated_at = ? where event_id = ?",
                (DEAD_LETTER, attempts, error, status, stamp, event_id),
            )
            return self._get(db, event_id)

    def _count_attempts(self, db: LedgerDatabase, event_id: str, attempts: int, stamp: str) -> HandoffRecord:
        """Only count attempts on a record whose state another process already settled."""
        db.execute(
            "update handoffs set attempts = attempts + ?, updated_at = ? where event_id = ?",
            (attempts, stamp, event_id),
        )
        return self._get(db, event_id)

    def reset_for_replay(
        self, *, tenant: str | None = None, event_id: str | None = None, now: datetime | None = None
    ) -> int:
        """Make matching dead letters pending again, due at once with a fresh retry budget, for the sensor to
        send. No filter means every dead letter. Returns how many were reset."""
        stamp = _text(now)
        where, params = _filters(tenant, event_id)
        with self._write() as db:
            cursor = db.execute(
                f"update handoffs set state = ?, next_attempt_at = ?, pending_since = ?, updated_at = ? "
                f"where state = ?{where}",
                (PENDING, stamp, stamp, stamp, DEAD_LETTER, *params),
            )
            return cursor.rowcount

    # ----------------------------------------------------------------------------------------
    # Reads

    def finish_objects(self, object_keys: Sequence[str], outcome: str, now: datetime | None = None) -> None:
        """Note objects the live path is done with without a hand-off (quarantined), so watching the
        prefix does not pick them up again."""
        with self._write() as db:
            db.executemany(
                "insert into finished_objects (object_key, outcome, finished_at) values (?, ?, ?) "
                "on conflict (object_key) do nothing",
                [(key, outcome, _text(now)) for key in object_keys],
            )

    def finished_objects(self, object_keys: Sequence[str]) -> set[str]:
        """Those of `object_keys` that were handed off (any state) or finished without a hand-off."""
        found: set[str] = set()
        with self._lock:
            for first in range(0, len(object_keys), 500):
                chunk = list(object_keys[first : first + 500])
                marks = ", ".join("?" * len(chunk))
                for table in ("handoffs", "finished_objects"):
                    rows = self._db.execute(f"select object_key from {table} where object_key in ({marks})", chunk)
                    found.update(key for (key,) in rows.fetchall())
        return found

    def get(self, event_id: str) -> HandoffRecord | None:
        with self._lock:
            row = self._db.execute(f"select {_COLUMNS} from handoffs where event_id = ?", (event_id,)).fetchone()
        return _record(row) if row else None

    def due(self, now: datetime | None = None, limit: int = 100, lease: timedelta | None = None) -> list[HandoffRecord]:
        """Pending records whose time has come, oldest due first. With `lease`, their next attempt is moved
        `lease` ahead in the same transaction, so another process calling `due` does not take them too (in
        PostgreSQL, rows another caller is leasing at that moment are skipped, not waited for)."""
        moment = now or datetime.now(UTC)
        with self._write() as db:
            rows = db.execute(
                f"select {_COLUMNS} from handoffs where state = ? and next_attempt_at <= ? "
                f"order by next_attempt_at, event_id limit ?{db.lock_free_rows if lease is not None else ''}",
                (PENDING, _text(moment), limit),
            ).fetchall()
            records = [_record(row) for row in rows]
            if lease is not None and records:
                until = _text(moment + lease)
                db.executemany(
                    "update handoffs set next_attempt_at = ?, updated_at = ? where event_id = ?",
                    [(until, _text(moment), r.event_id) for r in records],
                )
                records = [self._get(db, r.event_id) for r in records]
        return records

    def claim(self, event_id: str, lease: timedelta, now: datetime | None = None) -> bool:
        """Take one pending record that is due, to send it now: its next attempt moves `lease` ahead, so no
        other caller (of `claim`, or of `due` with a lease) sends it meanwhile. False when the record is
        not pending or not due: another worker holds it, or its next round has not come."""
        moment = now or datetime.now(UTC)
        with self._write() as db:
            cursor = db.execute(
                "update handoffs set next_attempt_at = ?, updated_at = ? "
                "where event_id = ? and state = ? and next_attempt_at <= ?",
                (_text(moment + lease), _text(moment), event_id, PENDING, _text(moment)),
            )
            return cursor.rowcount == 1

    def dead_letters(self, tenant: str | None = None, event_id: str | None = None) -> list[HandoffRecord]:
        """Dead letters, optionally of one tenant or one event, oldest first."""
        where, params = _filters(tenant, event_id)
        with self._lock:
            rows = self._db.execute(
                f"select {_COLUMNS} from handoffs where state = ?{where} order by created_at, event_id",
                (DEAD_LETTER, *params),
            ).fetchall()
        return [_record(row) for row in rows]

    def counts(self, tenant: str | None = None) -> dict[str, int]:
        """Records per state (every state listed, zeros included), optionally for one tenant."""
        where, params = _filters(tenant, None)
        with self._lock:
            rows = self._db.execute(
                f"select state, count(*) from handoffs where 1 = 1{where} group by state", params
            ).fetchall()
        return {state: 0 for state in STATES} | dict(rows)

    def counts_by_tenant(self) -> dict[str, dict[str, int]]:
        """{tenant: {state: records}} for every tenant with records."""
        with self._lock:
            rows = self._db.execute(
                "select tenant_id, state, count(*) from handoffs group by tenant_id, state order by tenant_id"
            ).fetchall()
        result: dict[str, dict[str, int]] = {}
        for tenant, state, count in rows:
            result.setdefault(tenant, {s: 0 for s in STATES})[state] = count
        return result

    def next_round(self, pending_since: datetime, now: datetime) -> datetime | None:
        """When the round after a failure at `now` is due, or None when it would fall past `max_age`."""
        age = (now - pending_since).total_seconds()
        offset, step = 0, 0
        while offset <= age:
            offset += self.retry_delays[min(step, len(self.retry_delays) - 1)]
            step += 1
        if offset > self.max_age.total_seconds():
            return None
        return pending_since + timedelta(seconds=offset)

    # ----------------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[LedgerDatabase]:
        """One write transaction of this connection (see the back ends for how it excludes other writers);
        committed on leaving."""
        with self._lock, self._db.transaction():
            yield self._db

    @staticmethod
    def _get(db: LedgerDatabase, event_id: str) -> HandoffRecord:
        return _record(db.execute(f"select {_COLUMNS} from handoffs where event_id = ?", (event_id,)).fetchone())

    @staticmethod
    def _require(db: LedgerDatabase, event_id: str) -> HandoffRecord:
        """The record, locked for the rest of the write transaction; KeyError when there is none."""
        row = db.execute(f"select {_COLUMNS} from handoffs where event_id = ?{db.lock_row}", (event_id,)).fetchone()
        if row is None:
            raise KeyError(f"unknown hand-off event {event_id!r}")
        return _record(row)


def _filters(tenant: str | None, event_id: str | None) -> tuple[str, tuple[str, ...]]:
    where, params = "", ()
    if tenant is not None:
        where, params = where + " and tenant_id = ?", (*params, tenant)
    if event_id is not None:
        where, params = where + " and event_id = ?", (*params, event_id)
    return where, params


def _text(moment: datetime | None) -> str:
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware one (UTC)")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _time(value: str | None) -> datetime | None:
    return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC) if value else None


def _record(row: tuple) -> HandoffRecord:
    values = dict(zip(_FIELDS, row, strict=True))
    for name in _TIMES:
        values[name] = _time(values[name])
    values["payload"] = bytes(values["payload"])
    return HandoffRecord(**values)
