"""A stand-in for the reply service, for tests and local runs: verifies, counts and stores hand-offs.

Endpoints (loopback only; it is not meant to be reachable from elsewhere, and /control has no auth):

* `POST /inbound`: a payload signed as Standard Webhooks define (`pipelines.handoff.signing`). 401 on a missing, bad
  or stale signature, 400 on a body that is not a JSON object whose `event_id` matches the `webhook-id` header,
  503 when told to fail (a `fail_rate` share of requests, drawn from a generator seeded with `seed`, one draw
  per request, so a run is reproducible), otherwise 200. Every request first waits `delay` seconds. Accepted
  payloads are appended to `store_path` (JSON Lines: received_at, event_id, duplicate, payload); an event id
  accepted before is accepted again (the receiver is idempotent) and counted as a duplicate.
* `GET /stats`: {accepted, distinct_event_ids, duplicates, rejected_signature, failed_on_purpose,
  bad_request, fail_rate, delay}.
* `GET /health`: {"ok": true}.
* `POST /control`: {"fail_rate": F, "delay": S} (either or both) changes the behaviour at once, e.g. to
  bring a "down" service back up in the middle of a test.
"""

from __future__ import annotations

import ipaddress
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pipelines.handoff.signing import DEFAULT_TOLERANCE, ID_HEADER, header, parse_secrets, verify

COUNTERS = ("accepted", "duplicates", "rejected_signature", "failed_on_purpose", "bad_request")
MAX_REQUEST_BYTES = 2 * 1024 * 1024
"""Larger bodies are refused with 413 (the sender keeps payloads under 1 MiB)."""


class ReplyStub(ThreadingHTTPServer):
    """The running stub; `shutdown()` stops it and releases the port."""

    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        secrets: Sequence[str],
        store_path: Path | None,
        fail_rate: float,
        delay: float,
        seed: int,
        tolerance: int,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.secrets = list(secrets)
        self.store_path = store_path
        self.tolerance = tolerance
        self.fail_rate = fail_rate
        self.delay = delay
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:8025."""
        return f"http://{self.server_address[0]}:{self.port}"

    @property
    def inbound_url(self) -> str:
        return f"{self.url}/inbound"

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self._counts,
                "distinct_event_ids": len(self._seen),
                "fail_rate": self.fail_rate,
                "delay": self.delay,
            }

    def control(self, fail_rate: float | None = None, delay: float | None = None) -> None:
        """Change the share of requests failed on purpose and the wait before answering."""
        with self._lock:
            if fail_rate is not None:
                if not 0.0 <= fail_rate <= 1.0:
                    raise ValueError(f"fail_rate must be within 0..1, got {fail_rate}")
                self.fail_rate = fail_rate
            if delay is not None:
                if delay < 0:
                    raise ValueError(f"delay must not be negative, got {delay}")
                self.delay = delay

    def start(self) -> ReplyStub:
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name=f"reply-stub-{self.port}", daemon=True
        )  # a short poll interval makes shutdown() quick
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> None:
        """Block until the serving thread stops (or `timeout` passes)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def shutdown(self) -> None:
        if self._thread is not None:
            super().shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def inbound(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one POST /inbound (status, JSON body)."""
        with self._lock:
            delay = self.delay
        if delay > 0:
            time.sleep(delay)
        with self._lock:
            fail = self._rng.random() < self.fail_rate
            if fail:
                self._counts["failed_on_purpose"] += 1
        if fail:
            return 503, {"error": "failing on purpose"}
        reason = verify(headers, body, self.secrets, tolerance=self.tolerance)
        if reason is not None:
            with self._lock:
                self._counts["rejected_signature"] += 1
            return 401, {"error": reason}
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or payload.get("event_id") != header(headers, ID_HEADER):
            with self._lock:
                self._counts["bad_request"] += 1
            return 400, {"error": "body is not a JSON object with the signed event_id"}
        event_id = payload["event_id"]
        with self._lock:
            duplicate = event_id in self._seen
            self._seen[event_id] += 1
            self._counts["accepted"] += 1
            self._counts["duplicates"] += int(duplicate)
            if self.store_path is not None:
                line = {
                    "received_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "event_id": event_id,
                    "duplicate": duplicate,
                    "payload": payload,
                }
                with self.store_path.open("a", encoding="utf-8") as store:
                    store.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        return 200, {"accepted": True, "event_id": event_id, "duplicate": duplicate}


def serve(
    port: int,
    secret: str | Sequence[str],
    store_path: str | Path | None,
    fail_rate: float = 0.0,
    delay: float = 0.0,
    seed: int = 0,
    host: str = "127.0.0.1",
    tolerance: int = DEFAULT_TOLERANCE,
) -> ReplyStub:
    """Start the stub in a background thread and return it (port 0 picks a free port: read `.port`).

    `secret` may list several secrets (comma-separated or a list), any of which is accepted.
    """
    if not _is_loopback(host):
        raise ValueError(f"the reply stub only listens on loopback, not {host!r}")
    secrets = parse_secrets(secret)
    if not secrets:
        raise ValueError("the reply stub needs a secret (--secret or SESLAKE_REPLY_SECRET)")
    store = Path(store_path) if store_path is not None else None
    if store is not None:
        store.parent.mkdir(parents=True, exist_ok=True)
    stub = ReplyStub(host, port, secrets, store, 0.0, 0.0, seed, tolerance)
    stub.control(fail_rate=fail_rate, delay=delay)
    return stub.start()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ReplyStub

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        """Quiet: the counters in /stats tell what happened."""

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"ok": True})
        elif self.path == "/stats":
            self._send(200, self.server.stats())
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self._body()
        if body is None:
            return
        if self.path == "/inbound":
            self._send(*self.server.inbound(self.headers, body))  # type: ignore[arg-type]
        elif self.path == "/control":
            try:
                change = json.loads(body or b"{}")
                self.server.control(fail_rate=change.get("fail_rate"), delay=change.get("delay"))
            except (ValueError, TypeError, AttributeError) as exc:
                self._send(400, {"error": str(exc)})
                return
            stats = self.server.stats()
            self._send(200, {"fail_rate": stats["fail_rate"], "delay": stats["delay"]})
        else:
            self._send(404, {"error": "not found"})

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._send(411, {"error": "Content-Length required"})
            return None
        if int(length) > MAX_REQUEST_BYTES:
            self.close_connection = True
            self._send(413, {"error": f"body larger than {MAX_REQUEST_BYTES} bytes"})
            return None
        return self.rfile.read(int(length))

    def _send(self, status: int, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timed out) while we were waiting


def _is_loopback(host: str) -> bool:
    """An IPv4 loopback address (127.0.0.0/8) or 'localhost'."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address.is_loopback
