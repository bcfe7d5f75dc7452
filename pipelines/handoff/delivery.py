"""POSTing a signed payload to the reply service, with a short in-process retry loop.

Classification of one attempt (the receiver should answer 2xx within a few seconds and work afterwards):

* any 2xx: accepted;
* 408, 429, any 5xx, a timeout or a connection failure: retryable;
* any other status (3xx, since redirects are not followed, and 4xx): permanent, because sending the same
  bytes again would get the same answer. A request that cannot be built (bad URL), and plain `http://` to
  a host other than loopback, are permanent too.

The client trusts nothing from its environment: proxy variables and `~/.netrc` are ignored (a proxy is
used only when configured), an attempt has a total time limit, and of an answer at most 64 KiB of a
refusal's body is ever read.

`deliver` retries retryable failures with exponential backoff and jitter inside a budget of attempts and
seconds, re-signing each attempt so the timestamp stays fresh. It is the fast inner loop; the hand-off
ledger spaces out later rounds over hours (`pipelines.handoff.ledger`). Sleep, clock and random source are
parameters so tests run without waiting. `record_outcome` is the one mapping from a delivery's outcome to
the ledger, shared by the hand-off run and `seslake replay`.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from urllib3.util import Timeout

from pipelines.handoff.ledger import DELIVERED, HandoffLedger, HandoffRecord
from pipelines.handoff.signing import sign_headers

ACCEPTED = "accepted"
RETRYABLE = "retryable"
PERMANENT = "permanent"

RETRYABLE_EXHAUSTED = "retryable_exhausted"
"""Final outcomes of `deliver`: DELIVERED, RETRYABLE_EXHAUSTED (budget spent), PERMANENT."""

ERROR_TEXT_MAX = 300
"""Characters of a response body or exception message kept in `Attempt.error`."""
RESPONSE_MAX_BYTES = 64 * 1024
"""Bytes of a refusal's body read at most (for its error text); an accepted answer's body is never read."""


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: str
    """ACCEPTED, RETRYABLE or PERMANENT."""
    status: int | None
    """The HTTP status, None when no response came back."""
    error: str | None
    """Why it failed (status and start of the body, or the exception), None when accepted."""
    seconds: float
    retry_after: float | None = None
    """Seconds from a numeric Retry-After header, if the response had one."""


@dataclass(frozen=True, slots=True)
class Delivery:
    outcome: str
    """DELIVERED, RETRYABLE_EXHAUSTED or PERMANENT."""
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def last_status(self) -> int | None:
        return self.last.status if self.last else None

    @property
    def last_error(self) -> str | None:
        return self.last.error if self.last else None


def classify(status: int) -> str:
    """ACCEPTED, RETRYABLE or PERMANENT for an HTTP status (see the module docstring)."""
    if 200 <= status < 300:
        return ACCEPTED
    if status in (408, 429) or status >= 500:
        return RETRYABLE
    return PERMANENT


def open_session(proxy: str | None = None) -> requests.Session:
    """An HTTP session that never takes proxies or credentials from the environment (`HTTP_PROXY`,
    `~/.netrc`, …): the reply service is reached directly, or through `proxy` when one is configured."""
    session = requests.Session()
    session.trust_env = False
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    return session


def url_refusal(url: str) -> str | None:
    """Why a request must not go to `url`, or None: an unusable URL, or plain HTTP to a host other than
    this machine's loopback (payloads and signatures would cross the network in clear)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"unusable URL {url[:200]!r}: expected http(s)://host/…"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return f"refusing plain http:// to {parts.hostname}: only loopback may be reached without TLS"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def post_payload(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    session: requests.Session | None = None,
) -> Attempt:
    """One POST of `body` as JSON; never raises for network or HTTP failures.

    `timeout` bounds the whole attempt: connecting, waiting for the answer (urllib3's total timeout) and
    reading at most RESPONSE_MAX_BYTES of an error body, which is all that is ever read."""
    started = time.monotonic()
    refusal = url_refusal(url)
    if refusal is not None:
        return Attempt(PERMANENT, None, refusal, 0.0)
    sender = session or open_session()
    try:
        response = sender.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=Timeout(total=timeout, connect=timeout, read=timeout),
            allow_redirects=False,
            stream=True,
        )
        try:
            outcome = classify(response.status_code)
            text = "" if outcome == ACCEPTED else _read_capped(response, started + timeout)
        finally:
            response.close()
    except requests.Timeout as exc:
        return Attempt(RETRYABLE, None, _short(f"timeout: {exc}"), time.monotonic() - started)
    except requests.ConnectionError as exc:
        return Attempt(RETRYABLE, None, _short(f"connection_error: {exc}"), time.monotonic() - started)
    except requests.RequestException as exc:
        return Attempt(PERMANENT, None, _short(f"request_error: {exc}"), time.monotonic() - started)
    finally:
        if session is None:
            sender.close()
    error = None if outcome == ACCEPTED else _short(f"HTTP {response.status_code}: {text}")
    return Attempt(outcome, response.status_code, error, time.monotonic() - started, _retry_after(response.headers))


def _read_capped(response: requests.Response, deadline: float) -> str:
    """At most RESPONSE_MAX_BYTES of the body, read before `deadline` (a dripping body is cut there)."""
    data = bytearray()
    for chunk in response.iter_content(8192):
        data += chunk
        if len(data) >= RESPONSE_MAX_BYTES or time.monotonic() > deadline:
            break
    return bytes(data[:RESPONSE_MAX_BYTES]).decode("utf-8", "replace")


def deliver(
    url: str,
    body: bytes,
    event_id: str,
    secrets: str | Sequence[str],
    *,
    max_attempts: int = 4,
    max_seconds: float = 30.0,
    timeout: float = 10.0,
    base_delay: float = 0.5,
    max_delay: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    session: requests.Session | None = None,
    proxy: str | None = None,
) -> Delivery:
    """POST until accepted, a permanent failure, `max_attempts` attempts, or `max_seconds` spent.

    The wait before attempt n+1 is `min(max_delay, base_delay * 2**(n-1))` scaled by a random factor in
    [0.5, 1) (at least a Retry-After the receiver asked for, up to `max_delay`). No attempt starts when the
    wait would end past `max_seconds` from the start (an attempt already started may run `timeout` longer).
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    jitter = rng or random.Random()
    started = clock()
    attempts: list[Attempt] = []
    http = session or open_session(proxy)
    try:
        while True:
            attempt = post_payload(url, body, sign_headers(body, event_id, secrets), timeout, http)
            attempts.append(attempt)
            if attempt.outcome == ACCEPTED:
                return Delivery(DELIVERED, attempts)
            if attempt.outcome == PERMANENT:
                return Delivery(PERMANENT, attempts)
            if len(attempts) >= max_attempts:
                return Delivery(RETRYABLE_EXHAUSTED, attempts)
            wait = min(max_delay, base_delay * 2 ** (len(attempts) - 1)) * jitter.uniform(0.5, 1.0)
            if attempt.retry_after is not None:
                wait = max(wait, min(attempt.retry_after, max_delay))
            if clock() - started + wait >= max_seconds:
                return Delivery(RETRYABLE_EXHAUSTED, attempts)
            sleep(wait)
    finally:
        if session is None:
            http.close()


def record_outcome(ledger: HandoffLedger, event_id: str, delivery: Delivery, *, replay: bool = False) -> HandoffRecord:
    """Record what a delivery of a ledger record came to: accepted -> `delivered`; refused permanently ->
    `dead_letter`; a retryable failure -> pending until the ledger's next round (or a dead letter once the
    retry budget is spent). A replay sends a dead letter once, so any failure leaves it a dead letter."""
    attempts, status = len(delivery.attempts), delivery.last_status
    if delivery.outcome == DELIVERED:
        return ledger.mark_delivered(event_id, attempts=attempts, status=status)
    error = delivery.last_error or f"{delivery.outcome}: HTTP {status}"
    if delivery.outcome == PERMANENT or replay:
        return ledger.mark_dead_letter(event_id, error=error, status=status, attempts=attempts)
    return ledger.mark_attempt_failed(event_id, error=error, status=status, attempts=attempts)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: ignored, the backoff applies


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_TEXT_MAX else text[: ERROR_TEXT_MAX - 1] + "…"
