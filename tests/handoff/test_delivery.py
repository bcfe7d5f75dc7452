"""Delivery over real HTTP to the reply stub on 127.0.0.1: classification, retries, budgets, timeouts."""

from __future__ import annotations

import json
import random
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from pipelines.handoff.delivery import (
    ACCEPTED,
    DELIVERED,
    PERMANENT,
    RETRYABLE,
    RETRYABLE_EXHAUSTED,
    classify,
    deliver,
    post_payload,
)
from pipelines.handoff.signing import sign_headers
from pipelines.handoff.stub import ReplyStub, serve

SECRET = "s3cret"


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def stub() -> Iterator[ReplyStub]:
    server = serve(0, SECRET, None)
    yield server
    server.shutdown()


def _body(event_id: str) -> bytes:
    return json.dumps({"event_id": event_id, "stripped_text": "Hola"}).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, ACCEPTED), (202, ACCEPTED), (204, ACCEPTED), (408, RETRYABLE), (429, RETRYABLE), (500, RETRYABLE),
     (502, RETRYABLE), (503, RETRYABLE), (301, PERMANENT), (400, PERMANENT), (401, PERMANENT), (403, PERMANENT),
     (404, PERMANENT), (406, PERMANENT), (413, PERMANENT), (422, PERMANENT)],
)  # fmt: skip
def test_classify(status: int, outcome: str) -> None:
    assert classify(status) == outcome


def test_one_post_is_accepted(stub: ReplyStub) -> None:
    body = _body("e-ok")
    attempt = post_payload(stub.inbound_url, body, sign_headers(body, "e-ok", SECRET), timeout=5)

    assert (attempt.outcome, attempt.status, attempt.error) == (ACCEPTED, 200, None)
    assert stub.stats()["accepted"] == 1


def test_half_failing_service_gets_everything_delivered_with_retries(stub: ReplyStub) -> None:
    stub.control(fail_rate=0.5)
    fake = FakeTime()
    results = [
        deliver(
            stub.inbound_url,
            _body(f"e{i}"),
            f"e{i}",
            SECRET,
            max_attempts=20,
            sleep=fake.sleep,
            clock=fake.clock,
            rng=random.Random(i),
        )
        for i in range(20)
    ]
    stats = stub.stats()

    assert [r.outcome for r in results] == [DELIVERED] * 20
    retries = sum(len(r.attempts) - 1 for r in results)
    assert retries > 0 and stats["failed_on_purpose"] == retries
    assert all(a.status == 503 and a.outcome == RETRYABLE for r in results for a in r.attempts[:-1])
    assert (stats["accepted"], stats["distinct_event_ids"], stats["duplicates"]) == (20, 20, 0)
    assert len(fake.sleeps) == retries


def test_backoff_is_exponential_with_jitter_and_capped(stub: ReplyStub) -> None:
    stub.control(fail_rate=1.0)
    fake = FakeTime()
    result = deliver(
        stub.inbound_url,
        _body("e1"),
        "e1",
        SECRET,
        max_attempts=7,
        max_seconds=1000,
        base_delay=0.5,
        max_delay=8.0,
        sleep=fake.sleep,
        clock=fake.clock,
        rng=random.Random(3),
    )

    assert result.outcome == RETRYABLE_EXHAUSTED and len(result.attempts) == 7
    for n, wait in enumerate(fake.sleeps):
        ceiling = min(8.0, 0.5 * 2**n)
        assert ceiling / 2 <= wait < ceiling
    assert fake.sleeps[-1] >= 4.0  # capped at max_delay, jittered down by at most half


def test_service_down_exhausts_the_attempts_with_connection_errors() -> None:
    fake = FakeTime()
    url = f"http://127.0.0.1:{_free_port()}/inbound"  # nothing listens there
    result = deliver(url, _body("e1"), "e1", SECRET, max_attempts=3, sleep=fake.sleep, clock=fake.clock)

    assert result.outcome == RETRYABLE_EXHAUSTED
    assert len(result.attempts) == 3 and len(fake.sleeps) == 2
    assert all(a.status is None and a.error.startswith("connection_error") for a in result.attempts)
    assert result.last_status is None and result.last_error.startswith("connection_error")


def test_service_failing_then_back_up(stub: ReplyStub) -> None:
    fake = FakeTime()
    requests.post(f"{stub.url}/control", json={"fail_rate": 1.0}, timeout=5).raise_for_status()
    down = deliver(stub.inbound_url, _body("e1"), "e1", SECRET, max_attempts=3, sleep=fake.sleep, clock=fake.clock)
    requests.post(f"{stub.url}/control", json={"fail_rate": 0.0}, timeout=5).raise_for_status()
    up = deliver(stub.inbound_url, _body("e1"), "e1", SECRET, max_attempts=3, sleep=fake.sleep, clock=fake.clock)

    assert down.outcome == RETRYABLE_EXHAUSTED and down.last_status == 503
    assert up.outcome == DELIVERED and len(up.attempts) == 1
    assert stub.stats()["failed_on_purpose"] == 3 and stub.stats()["accepted"] == 1


def test_time_budget_stops_retrying_before_the_attempt_budget(stub: ReplyStub) -> None:
    stub.control(fail_rate=1.0)
    fake = FakeTime()
    result = deliver(
        stub.inbound_url,
        _body("e1"),
        "e1",
        SECRET,
        max_attempts=100,
        max_seconds=5.0,
        base_delay=1.0,
        sleep=fake.sleep,
        clock=fake.clock,
        rng=random.Random(1),
    )

    assert result.outcome == RETRYABLE_EXHAUSTED
    assert 2 <= len(result.attempts) < 100
    assert sum(fake.sleeps) < 5.0


def test_bad_request_is_permanent_without_retry(stub: ReplyStub) -> None:
    fake = FakeTime()
    result = deliver(stub.inbound_url, b"not json", "e1", SECRET, max_attempts=5, sleep=fake.sleep, clock=fake.clock)

    assert result.outcome == PERMANENT and result.last_status == 400
    assert len(result.attempts) == 1 and fake.sleeps == []
    assert result.last_error.startswith("HTTP 400")


def test_wrong_secret_is_permanent(stub: ReplyStub) -> None:
    fake = FakeTime()
    result = deliver(stub.inbound_url, _body("e1"), "e1", "wrong", max_attempts=5, sleep=fake.sleep, clock=fake.clock)

    assert result.outcome == PERMANENT and result.last_status == 401
    assert stub.stats()["rejected_signature"] == 1 and stub.stats()["accepted"] == 0


def test_slow_service_times_out_retryably_and_then_sees_duplicates(stub: ReplyStub) -> None:
    stub.control(delay=0.6)
    fake = FakeTime()
    slow = deliver(
        stub.inbound_url, _body("e1"), "e1", SECRET, max_attempts=2, timeout=0.15, sleep=fake.sleep, clock=fake.clock
    )
    stub.control(delay=0.0)
    fast = deliver(
        stub.inbound_url, _body("e1"), "e1", SECRET, max_attempts=2, timeout=5, sleep=fake.sleep, clock=fake.clock
    )

    assert slow.outcome == RETRYABLE_EXHAUSTED
    assert all(a.outcome == RETRYABLE and a.status is None and a.error.startswith("timeout") for a in slow.attempts)
    assert fast.outcome == DELIVERED
    # The timed-out requests were still processed once the stub woke up: the receiver saw the event three
    # times, which is why it deduplicates on event_id.
    deadline = time.monotonic() + 5
    while stub.stats()["accepted"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = stub.stats()
    assert (stats["accepted"], stats["distinct_event_ids"], stats["duplicates"]) == (3, 1, 2)


def test_unusable_url_is_permanent() -> None:
    result = deliver("no-scheme.example/inbound", _body("e1"), "e1", SECRET, max_attempts=3, sleep=FakeTime().sleep)

    assert result.outcome == PERMANENT and result.last_error.startswith("unusable URL")
    assert len(result.attempts) == 1


def test_plain_http_to_another_host_is_refused_before_anything_is_sent() -> None:
    result = deliver("http://reply.example.com/inbound", _body("e1"), "e1", SECRET, sleep=FakeTime().sleep)

    assert result.outcome == PERMANENT and "refusing plain http://" in result.last_error
    assert result.attempts[0].seconds == 0.0


def test_proxy_settings_of_the_environment_are_ignored(stub: ReplyStub, monkeypatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "")

    result = deliver(stub.inbound_url, _body("e1"), "e1", SECRET, max_attempts=1)

    assert result.outcome == DELIVERED


class _Misbehaving(socketserver.BaseRequestHandler):
    """Answers 500 with an endless body, one byte every 10 ms."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 200_000)
        try:
            while True:
                self.request.sendall(b"y")
                time.sleep(0.01)
        except OSError:
            pass


def test_an_endless_refusal_body_is_cut_at_the_cap_and_the_attempt_stays_in_its_time() -> None:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Misbehaving)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/inbound"
        attempt = post_payload(url, _body("e1"), sign_headers(_body("e1"), "e1", SECRET), timeout=2.0)
    finally:
        server.shutdown()
        server.server_close()

    assert attempt.outcome == RETRYABLE and attempt.status == 500
    assert attempt.seconds < 2.5
    assert len(attempt.error) <= 300
