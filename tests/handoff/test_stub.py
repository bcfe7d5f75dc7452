"""The reply-service stand-in over real HTTP, and the `reply-stub` and `replay` commands."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from pipelines.cli.handoff import add_parsers
from pipelines.handoff.ledger import DEAD_LETTER, DELIVERED, HandoffLedger
from pipelines.handoff.signing import TIMESTAMP_HEADER, sign_headers
from pipelines.handoff.stub import ReplyStub, serve
from tests.conftest import PROJECT

SECRET = "s3cret"


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[ReplyStub]:
    server = serve(0, SECRET, tmp_path / "out" / "accepted.jsonl")
    yield server
    server.shutdown()


def _post(stub: ReplyStub, event_id: str, secret: str = SECRET, body: bytes | None = None, **header_changes: str):
    body = body if body is not None else json.dumps({"event_id": event_id, "subject": "Re: Pedido"}).encode()
    headers = {**sign_headers(body, event_id, secret), **header_changes}
    return requests.post(stub.inbound_url, data=body, headers=headers, timeout=5)


def test_health_and_empty_stats(stub: ReplyStub) -> None:
    assert requests.get(f"{stub.url}/health", timeout=5).json() == {"ok": True}
    assert requests.get(f"{stub.url}/stats", timeout=5).json() == {
        "accepted": 0,
        "distinct_event_ids": 0,
        "duplicates": 0,
        "rejected_signature": 0,
        "failed_on_purpose": 0,
        "bad_request": 0,
        "fail_rate": 0.0,
        "delay": 0.0,
    }
    assert requests.get(f"{stub.url}/nothing", timeout=5).status_code == 404


def test_accepts_stores_and_counts_duplicates(stub: ReplyStub, tmp_path: Path) -> None:
    first = _post(stub, "e1")
    again = _post(stub, "e1")
    other = _post(stub, "e2")

    assert first.status_code == again.status_code == other.status_code == 200
    assert first.json() == {"accepted": True, "event_id": "e1", "duplicate": False}
    assert again.json()["duplicate"] is True
    stats = requests.get(f"{stub.url}/stats", timeout=5).json()
    assert (stats["accepted"], stats["distinct_event_ids"], stats["duplicates"]) == (3, 2, 1)
    lines = [
        json.loads(line) for line in (tmp_path / "out" / "accepted.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert [(line["event_id"], line["duplicate"]) for line in lines] == [("e1", False), ("e1", True), ("e2", False)]
    assert lines[0]["payload"] == {"event_id": "e1", "subject": "Re: Pedido"}
    received = datetime.fromisoformat(lines[0]["received_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - received).total_seconds()) < 60


def test_bad_or_stale_signatures_get_401(stub: ReplyStub) -> None:
    wrong = _post(stub, "e1", secret="guess")
    stale = _post(stub, "e1", **{TIMESTAMP_HEADER: str(int(time.time()) - 3600)})
    body = json.dumps({"event_id": "e1"}).encode()
    tampered = requests.post(stub.inbound_url, data=body + b" ", headers=sign_headers(body, "e1", SECRET), timeout=5)
    unsigned = requests.post(stub.inbound_url, data=body, timeout=5)

    assert [r.status_code for r in (wrong, stale, tampered, unsigned)] == [401] * 4
    assert [r.json()["error"] for r in (wrong, stale, tampered, unsigned)] == [
        "signature_mismatch",
        "stale_timestamp",
        "signature_mismatch",
        "missing_headers",
    ]
    assert stub.stats()["rejected_signature"] == 4 and stub.stats()["accepted"] == 0


def test_stale_timestamp_signed_correctly_is_refused(stub: ReplyStub) -> None:
    body = json.dumps({"event_id": "e1"}).encode()
    old = sign_headers(body, "e1", SECRET, timestamp=int(time.time()) - 301)
    response = requests.post(stub.inbound_url, data=body, headers=old, timeout=5)

    assert (response.status_code, response.json()["error"]) == (401, "stale_timestamp")


def test_well_signed_but_malformed_bodies_get_400(stub: ReplyStub) -> None:
    not_json = _post(stub, "e1", body=b"plain text")
    mismatch = _post(stub, "e1", body=json.dumps({"event_id": "e2"}).encode())

    assert not_json.status_code == mismatch.status_code == 400
    assert stub.stats()["bad_request"] == 2 and stub.stats()["accepted"] == 0


def test_failures_on_purpose_are_reproducible_with_the_seed() -> None:
    patterns = []
    for _ in range(2):
        server = serve(0, SECRET, None, fail_rate=0.5, seed=42)
        try:
            patterns.append([_post(server, f"e{i}").status_code for i in range(30)])
            stats = server.stats()
        finally:
            server.shutdown()
        assert stats["failed_on_purpose"] == patterns[-1].count(503)
        assert stats["accepted"] == patterns[-1].count(200)

    assert patterns[0] == patterns[1]
    assert set(patterns[0]) == {200, 503}


def test_control_turns_the_service_down_and_up_and_slow(stub: ReplyStub) -> None:
    down = requests.post(f"{stub.url}/control", json={"fail_rate": 1.0}, timeout=5)
    refused = _post(stub, "e1")
    requests.post(f"{stub.url}/control", json={"fail_rate": 0.0, "delay": 0.3}, timeout=5)
    started = time.monotonic()
    slow = _post(stub, "e1")
    took = time.monotonic() - started
    invalid = requests.post(f"{stub.url}/control", json={"fail_rate": 2}, timeout=5)

    assert down.json() == {"fail_rate": 1.0, "delay": 0.0}
    assert refused.status_code == 503
    assert slow.status_code == 200 and took >= 0.3
    assert invalid.status_code == 400 and stub.stats()["fail_rate"] == 0.0


def test_oversized_body_is_refused(stub: ReplyStub) -> None:
    response = requests.post(stub.inbound_url, data=b"x" * (2 * 1024 * 1024 + 1), timeout=10)

    assert response.status_code == 413


def test_listens_on_loopback_only_and_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(0, SECRET, None, host="0.0.0.0")
    with pytest.raises(ValueError, match="secret"):
        serve(0, "", None)


# --------------------------------------------------------------------------------------------
# Commands


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="seslake")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def _dead_letters(path: Path, event_ids: dict[str, str]) -> None:
    with HandoffLedger(path) as ledger:
        for event_id, tenant in event_ids.items():
            body = json.dumps({"event_id": event_id, "ids": {"tenant_id": tenant}}).encode()
            ledger.record_pending(
                event_id,
                tenant_id=tenant,
                ses_message_id=f"ses-{event_id}",
                object_key=f"inbound/ses-{event_id}",
                thread_id=None,
                payload=body,
            )
            ledger.mark_dead_letter(event_id, error="HTTP 503", status=503)


def test_replay_resends_dead_letters_with_their_event_ids(
    stub: ReplyStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger_path = tmp_path / "handoff.sqlite"
    _dead_letters(ledger_path, {"a1": "caminos", "a2": "caminos", "b1": "casaverde"})
    monkeypatch.setenv("SESLAKE_HANDOFF_LEDGER", str(ledger_path))
    monkeypatch.setenv("SESLAKE_REPLY_URL", stub.inbound_url)
    monkeypatch.setenv("SESLAKE_REPLY_SECRET", f"new,{SECRET}")  # rotating: the stub still has the old one

    stub.control(fail_rate=1.0)
    assert _run(["replay", "--tenant", "caminos"]) == 1
    assert "2 dead letters, 0 delivered, 2 still dead-lettered" in capsys.readouterr().out
    stub.control(fail_rate=0.0)
    assert _run(["replay", "--event-id", "b1"]) == 0
    assert _run(["replay", "--all"]) == 0
    out = capsys.readouterr().out
    assert "replay (event b1): 1 dead letters, 1 delivered" in out
    assert "replay (all): 2 dead letters, 2 delivered, 0 still dead-lettered" in out
    assert _run(["replay", "--all"]) == 0  # nothing left

    with HandoffLedger(ledger_path) as ledger:
        records = {e: ledger.get(e) for e in ("a1", "a2", "b1")}
    assert {e: r.state for e, r in records.items()} == {"a1": DELIVERED, "a2": DELIVERED, "b1": DELIVERED}
    assert records["a1"].attempts == 1 + 3 + 1  # the original failure, a failed replay of 3, the good one
    stored = [json.loads(line) for line in (tmp_path / "out" / "accepted.jsonl").read_text().splitlines()]
    assert sorted(line["event_id"] for line in stored) == ["a1", "a2", "b1"]
    assert stored[0]["payload"] == {"event_id": "b1", "ids": {"tenant_id": "casaverde"}}


def test_replay_leaves_dead_letters_when_the_service_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger_path = tmp_path / "handoff.sqlite"
    _dead_letters(ledger_path, {"a1": "caminos"})
    monkeypatch.setenv("SESLAKE_HANDOFF_LEDGER", str(ledger_path))
    monkeypatch.setenv("SESLAKE_REPLY_URL", "http://127.0.0.1:9/inbound")
    monkeypatch.setenv("SESLAKE_REPLY_SECRET", SECRET)
    monkeypatch.setattr("pipelines.cli.handoff.REPLAY_SECONDS", 0.01)  # one attempt, no backoff wait

    assert _run(["replay", "--all"]) == 1
    with HandoffLedger(ledger_path) as ledger:
        record = ledger.get("a1")
    assert record.state == DEAD_LETTER and record.last_error.startswith("connection_error")
    assert "1 still dead-lettered" in capsys.readouterr().out


def test_replay_without_secret_or_ledger_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SESLAKE_HANDOFF_LEDGER", str(tmp_path / "missing.sqlite"))
    monkeypatch.delenv("SESLAKE_REPLY_SECRET", raising=False)
    assert _run(["replay", "--all"]) == 2
    monkeypatch.setenv("SESLAKE_REPLY_SECRET", SECRET)
    assert _run(["replay", "--all"]) == 2
    err = capsys.readouterr().err
    assert "SESLAKE_REPLY_SECRET is not set" in err and "no hand-off ledger" in err


def test_reply_stub_command_serves_until_interrupted(tmp_path: Path) -> None:
    script = (
        "import argparse, sys\n"
        "from pipelines.cli.handoff import add_parsers\n"
        "p = argparse.ArgumentParser()\n"
        "add_parsers(p.add_subparsers(dest='command'))\n"
        "a = p.parse_args(sys.argv[1:])\n"
        "sys.exit(a.handler(a))\n"
    )
    store = tmp_path / "stub.jsonl"
    env = {**os.environ, "SESLAKE_REPLY_SECRET": SECRET}
    process = subprocess.Popen(
        [sys.executable, "-c", script, "reply-stub", "--port", "0", "--store", str(store), "--fail-rate", "0"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        url = first_line.split("listening on ", 1)[1].split(" ", 1)[0]
        body = json.dumps({"event_id": "e1"}).encode()
        response = requests.post(url, data=body, headers=sign_headers(body, "e1", SECRET), timeout=5)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    assert response.status_code == 200
    assert process.returncode == 0, err
    assert "reply stub stopped: {'accepted': 1" in out
    assert json.loads(store.read_text())["event_id"] == "e1"
