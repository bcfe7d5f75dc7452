"""The hand-off ledger: state transitions, retry schedule, idempotence, concurrency and durability, each in
SQLite and in PostgreSQL (a real server, `postgres_database` in conftest)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from pipelines.handoff.ledger import DEAD_LETTER, DELIVERED, PENDING, HandoffLedger, is_postgres_url

T0 = datetime(2026, 10, 2, 9, 0, tzinfo=UTC)


def _record(ledger: HandoffLedger, event_id: str, tenant: str = "caminos", now: datetime = T0, payload: bytes = b""):
    return ledger.record_pending(
        event_id,
        tenant_id=tenant,
        ses_message_id=f"ses-{event_id}",
        object_key=f"inbound/ses-{event_id}",
        thread_id=f"thread-{event_id}",
        payload=payload or f'{{"event_id":"{event_id}"}}'.encode(),
        now=now,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty ledger's location in each database: a file path, a `postgresql://` URL."""
    if request.param == "sqlite":
        return str(tmp_path / "sub" / "handoff.sqlite")
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def ledger(location: str):
    with HandoffLedger(location) as opened:
        yield opened


def test_new_record_is_pending_and_due_at_once(ledger: HandoffLedger) -> None:
    record = _record(ledger, "e1", payload=b'{"event_id":"e1","x":1}')

    assert (record.state, record.attempts, record.next_attempt_at, record.created_at) == (PENDING, 0, T0, T0)
    assert record.payload == b'{"event_id":"e1","x":1}'
    assert (record.tenant_id, record.ses_message_id, record.object_key, record.thread_id) == (
        "caminos",
        "ses-e1",
        "inbound/ses-e1",
        "thread-e1",
    )
    assert [r.event_id for r in ledger.due(T0)] == ["e1"]
    assert ledger.due(T0 - timedelta(seconds=1)) == []


def test_rerecording_keeps_state_and_payload(ledger: HandoffLedger) -> None:
    _record(ledger, "e1", payload=b"first")
    ledger.mark_delivered("e1", attempts=2, status=200, now=T0 + timedelta(seconds=5))
    again = _record(ledger, "e1", payload=b"second", now=T0 + timedelta(hours=1))

    assert (again.state, again.attempts, again.payload, again.created_at) == (DELIVERED, 2, b"first", T0)
    assert again.delivered_at == T0 + timedelta(seconds=5) and again.last_status == 200
    assert ledger.counts() == {PENDING: 0, DELIVERED: 1, DEAD_LETTER: 0}


def test_failures_follow_the_schedule_then_dead_letter(location: str) -> None:
    with HandoffLedger(location, retry_delays=(60, 300), max_age=timedelta(minutes=20)) as ledger:
        _record(ledger, "e1")
        seen = []
        now = T0
        while (
            record := ledger.mark_attempt_failed("e1", error="HTTP 503", status=503, attempts=2, now=now)
        ).state == PENDING:
            seen.append(record.next_attempt_at - T0)
            now = record.next_attempt_at
        assert seen == [timedelta(seconds=s) for s in (60, 360, 660, 960)]  # then 1260 s > 20 min
        assert record.state == DEAD_LETTER and record.next_attempt_at is None
        assert record.attempts == 10 and record.last_status == 503
        assert record.last_error == "retry budget of 0:20:00 spent: HTTP 503"


def test_a_late_round_does_not_burst(location: str) -> None:
    with HandoffLedger(location, retry_delays=(60, 300)) as ledger:
        _record(ledger, "e1")
        record = ledger.mark_attempt_failed("e1", error="timeout", now=T0 + timedelta(seconds=500))

    assert record.next_attempt_at == T0 + timedelta(seconds=660)  # the next slot after the late failure


def test_default_schedule_spans_72_hours(ledger: HandoffLedger) -> None:
    offsets = []
    now = T0
    _record(ledger, "e1")
    while (record := ledger.mark_attempt_failed("e1", error="x", now=now)).state == PENDING:
        offsets.append((record.next_attempt_at - T0).total_seconds())
        now = record.next_attempt_at

    assert offsets[:6] == [60, 360, 1260, 4860, 15660, 37260]
    assert offsets[-1] <= 72 * 3600 < offsets[-1] + 6 * 3600
    assert record.state == DEAD_LETTER


def test_permanent_failure_dead_letters_and_replay_delivers(ledger: HandoffLedger) -> None:
    _record(ledger, "e1")
    dead = ledger.mark_dead_letter("e1", error="HTTP 400: bad", status=400, now=T0 + timedelta(seconds=1))
    assert (dead.state, dead.last_status, dead.last_error, dead.next_attempt_at) == (
        DEAD_LETTER,
        400,
        "HTTP 400: bad",
        None,
    )
    assert ledger.due(T0 + timedelta(days=10)) == []

    still = ledger.mark_dead_letter("e1", error="HTTP 500", status=500, attempts=3)
    assert (still.state, still.attempts, still.last_status) == (DEAD_LETTER, 4, 500)
    delivered = ledger.mark_delivered("e1", status=202)
    assert (delivered.state, delivered.attempts, delivered.last_error, delivered.last_status) == (
        DELIVERED,
        5,
        None,
        202,
    )


def test_delivered_is_never_downgraded(ledger: HandoffLedger) -> None:
    _record(ledger, "e1")
    ledger.mark_delivered("e1", now=T0)
    failed = ledger.mark_attempt_failed("e1", error="late timeout from another worker", now=T0)
    dead = ledger.mark_dead_letter("e1", error="late 400", status=400, now=T0)

    assert failed.state == dead.state == DELIVERED
    assert dead.attempts == 3 and dead.last_error is None


def test_unknown_event_is_an_error(ledger: HandoffLedger) -> None:
    with pytest.raises(KeyError, match="nope"):
        ledger.mark_delivered("nope")
    assert ledger.get("nope") is None


def test_due_orders_limits_and_leases(ledger: HandoffLedger) -> None:
    for i in range(5):
        _record(ledger, f"e{i}", now=T0 + timedelta(seconds=10 - i))
    now = T0 + timedelta(minutes=1)

    assert [r.event_id for r in ledger.due(now, limit=3)] == ["e4", "e3", "e2"]
    leased = ledger.due(now, limit=2, lease=timedelta(minutes=5))
    assert [r.event_id for r in leased] == ["e4", "e3"]
    assert all(r.next_attempt_at == now + timedelta(minutes=5) for r in leased)
    assert [r.event_id for r in ledger.due(now)] == ["e2", "e1", "e0"]  # leased ones are not handed out twice
    assert [r.event_id for r in ledger.due(now + timedelta(minutes=5))][:2] == ["e2", "e1"]


def test_a_claim_is_taken_once_until_its_lease_runs_out(ledger: HandoffLedger) -> None:
    """Two workers given the same message by SQS: the first claim wins, the second is refused while the
    lease lasts; a delivered record, or one waiting for its next round, is never claimed."""
    _record(ledger, "e1", now=T0)
    lease = timedelta(seconds=50)
    assert ledger.claim("e1", lease, now=T0) is True
    assert ledger.claim("e1", lease, now=T0 + timedelta(seconds=1)) is False
    assert ledger.due(T0 + timedelta(seconds=1), lease=lease) == []  # nor handed out by a retry round
    assert ledger.claim("e1", lease, now=T0 + timedelta(seconds=51)) is True  # its holder died: taken again
    ledger.mark_attempt_failed("e1", error="HTTP 503", status=503, now=T0 + timedelta(seconds=52))
    assert ledger.claim("e1", lease, now=T0 + timedelta(seconds=53)) is False  # waits for its next round
    ledger.mark_delivered("e1")
    assert ledger.claim("e1", lease, now=T0 + timedelta(days=1)) is False
    assert ledger.claim("unknown", lease) is False


def test_dead_letters_counts_and_reset_by_tenant_and_event(ledger: HandoffLedger) -> None:
    for event_id, tenant in [("a1", "caminos"), ("a2", "caminos"), ("b1", "casaverde"), ("b2", "casaverde")]:
        _record(ledger, event_id, tenant=tenant)
        ledger.mark_dead_letter(event_id, error="HTTP 404", status=404, now=T0)
    ledger.mark_delivered("a2")
    _record(ledger, "c1", tenant="altamira")

    assert [r.event_id for r in ledger.dead_letters()] == ["a1", "b1", "b2"]
    assert [r.event_id for r in ledger.dead_letters(tenant="casaverde")] == ["b1", "b2"]
    assert [r.event_id for r in ledger.dead_letters(event_id="b2")] == ["b2"]
    assert ledger.counts() == {PENDING: 1, DELIVERED: 1, DEAD_LETTER: 3}
    assert ledger.counts("caminos") == {PENDING: 0, DELIVERED: 1, DEAD_LETTER: 1}
    assert ledger.counts_by_tenant() == {
        "altamira": {PENDING: 1, DELIVERED: 0, DEAD_LETTER: 0},
        "caminos": {PENDING: 0, DELIVERED: 1, DEAD_LETTER: 1},
        "casaverde": {PENDING: 0, DELIVERED: 0, DEAD_LETTER: 2},
    }

    later = T0 + timedelta(days=5)
    assert ledger.reset_for_replay(event_id="b2", now=later) == 1
    assert ledger.reset_for_replay(tenant="casaverde", now=later) == 1
    replayed = ledger.get("b1")
    assert (replayed.state, replayed.next_attempt_at, replayed.pending_since) == (PENDING, later, later)
    assert replayed.last_error == "HTTP 404" and replayed.created_at == T0
    assert ledger.reset_for_replay(now=later) == 1  # a1: everything left
    assert ledger.dead_letters() == []
    assert {r.event_id for r in ledger.due(later)} == {"a1", "b1", "b2", "c1"}
    # a fresh budget: a failure right after the replay is retried, not dead-lettered at once
    assert ledger.mark_attempt_failed("b1", error="timeout", now=later).state == PENDING


def test_state_survives_reopening(location: str) -> None:
    with HandoffLedger(location) as ledger:
        _record(ledger, "e1", payload=b"exact signed bytes \xe2\x9c\x93")
        ledger.mark_attempt_failed("e1", error="HTTP 503", status=503, now=T0)
        _record(ledger, "e2")
        ledger.mark_delivered("e2", now=T0)
    with HandoffLedger(location) as reopened:
        e1, e2 = reopened.get("e1"), reopened.get("e2")

    assert (e1.state, e1.attempts, e1.last_error, e1.next_attempt_at) == (
        PENDING,
        1,
        "HTTP 503",
        T0 + timedelta(seconds=60),
    )
    assert e1.payload == b"exact signed bytes \xe2\x9c\x93"
    assert (e2.state, e2.delivered_at) == (DELIVERED, T0)


def test_a_committed_state_is_visible_to_another_connection_at_once(location: str) -> None:
    with HandoffLedger(location) as writer, HandoffLedger(location) as reader:
        _record(writer, "e1")
        assert reader.get("e1").state == PENDING
        writer.mark_delivered("e1")
        assert reader.get("e1").state == DELIVERED


def test_threads_sharing_and_racing_on_one_event(location: str) -> None:
    ledgers = [HandoffLedger(location) for _ in range(4)]
    barrier = threading.Barrier(len(ledgers))

    def race(ledger: HandoffLedger) -> None:
        barrier.wait()
        for i in range(50):
            _record(ledger, f"e{i}")

    threads = [threading.Thread(target=race, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert ledgers[0].counts() == {PENDING: 50, DELIVERED: 0, DEAD_LETTER: 0}
    finally:
        for ledger in ledgers:
            ledger.close()


def _worker(location: str, prefix: str, count: int, start) -> None:
    """Another process: record, then deliver or fail each event, while the parent writes too."""
    with HandoffLedger(location) as ledger:
        start.wait()
        for i in range(count):
            event_id = f"{prefix}{i}"
            _record(ledger, event_id, tenant=prefix)
            _record(ledger, "shared")  # every process re-records one common event
            if i % 2:
                ledger.mark_delivered(event_id, status=200, now=T0)
            else:
                ledger.mark_attempt_failed(event_id, error="HTTP 503", status=503, now=T0)


def test_two_processes_write_concurrently(location: str) -> None:
    HandoffLedger(location).close()
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(3)
    workers = [context.Process(target=_worker, args=(location, prefix, 150, start)) for prefix in ("p", "q")]
    for worker in workers:
        worker.start()
    with HandoffLedger(location) as ledger:
        start.wait(60)  # all three open, then write at the same time
        for i in range(150):
            _record(ledger, f"r{i}", tenant="r")
            ledger.due(T0 + timedelta(hours=1), limit=10, lease=timedelta(seconds=1))
        for worker in workers:
            worker.join(60)
        assert [w.exitcode for w in workers] == [0, 0]
        by_tenant = ledger.counts_by_tenant()

    assert by_tenant["p"] == by_tenant["q"] == {PENDING: 75, DELIVERED: 75, DEAD_LETTER: 0}
    assert by_tenant["r"] == {PENDING: 150, DELIVERED: 0, DEAD_LETTER: 0}
    assert by_tenant["caminos"] == {PENDING: 1, DELIVERED: 0, DEAD_LETTER: 0}  # "shared", once


def _leaser(location: str, start, taken) -> None:
    """Another process: lease due records a few at a time until none is left for it."""
    mine: list[str] = []
    with HandoffLedger(location) as ledger:
        start.wait(60)
        while batch := ledger.due(T0 + timedelta(minutes=1), limit=3, lease=timedelta(hours=1)):
            mine += [record.event_id for record in batch]
    taken.put(mine)


def test_concurrent_leases_hand_each_record_out_exactly_once(location: str) -> None:
    with HandoffLedger(location) as ledger:
        for i in range(240):
            _record(ledger, f"e{i:03}")
    context = multiprocessing.get_context("spawn")
    start, taken = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_leaser, args=(location, start, taken)) for _ in range(2)]
    for worker in workers:
        worker.start()
    handed_out = [taken.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(60)

    assert [w.exitcode for w in workers] == [0, 0]
    everything = handed_out[0] + handed_out[1]
    assert sorted(everything) == [f"e{i:03}" for i in range(240)]  # each once: never to both workers
    with HandoffLedger(location) as ledger:
        assert ledger.due(T0 + timedelta(minutes=1)) == []  # all leased
        assert len(ledger.due(T0 + timedelta(minutes=61), limit=1000)) == 240


def test_a_path_opens_sqlite_and_a_postgresql_url_opens_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_database: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for path in ("data/handoff.sqlite", tmp_path / "other" / "ledger.db"):
        with HandoffLedger(path) as ledger:
            assert (ledger.kind, ledger.path) == ("sqlite", Path(path))
            _record(ledger, "e1")
        assert Path(path).is_file()
    with HandoffLedger(postgres_database) as ledger:
        assert (ledger.kind, ledger.path) == ("postgresql", None)
        _record(ledger, "e1")
    assert is_postgres_url(postgres_database.replace("postgresql://", "postgres://"))
    assert not is_postgres_url("data/postgresql://x") and not is_postgres_url(Path("postgresql:/x"))


def test_a_postgresql_url_is_never_taken_for_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(psycopg.OperationalError):
        HandoffLedger("postgresql://nobody@127.0.0.1:1/ledger", busy_timeout=2)
    assert list(tmp_path.iterdir()) == []


def test_the_ledger_file_is_readable_by_its_owner_only_and_in_wal_mode(tmp_path):
    with HandoffLedger(tmp_path / "ledger.sqlite"):
        pass
    assert (tmp_path / "ledger.sqlite").stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(tmp_path / "ledger.sqlite") as raw:
        assert raw.execute("pragma journal_mode").fetchone() == ("wal",)
