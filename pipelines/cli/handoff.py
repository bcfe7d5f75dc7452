"""`seslake reply-stub` and `seslake replay`: run the reply-service stand-in, resend dead letters.

`reply-stub` serves `pipelines.handoff.stub` on 127.0.0.1 until interrupted.

`replay` resends the dead letters of the hand-off ledger (SESLAKE_HANDOFF_LEDGER) to the reply service
(SESLAKE_REPLY_URL), each with its stored body and event id under a fresh signature (SESLAKE_REPLY_SECRET).
A delivered one is marked delivered; one that fails stays a dead letter with the new error. Exit 0 when
every selected dead letter was delivered (or there were none), 1 otherwise, 2 on a configuration error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.settings import Settings

REPLAY_ATTEMPTS = 3
"""HTTP attempts per dead letter in one replay (quick retries with backoff)."""
REPLAY_SECONDS = 30.0
"""Time budget per dead letter in one replay."""


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register both commands; each sets `handler`, the function that runs it."""
    stub = commands.add_parser("reply-stub", help="run a local stand-in for the reply service (127.0.0.1 only)")
    stub.add_argument("--port", type=int, default=8025, help="port to listen on (default 8025; 0 picks one)")
    stub.add_argument("--secret", help="signing secret(s), comma-separated (default: SESLAKE_REPLY_SECRET)")
    stub.add_argument("--store", type=Path, help="append accepted payloads to this JSON Lines file")
    stub.add_argument("--fail-rate", type=float, default=0.0, help="share of requests answered 503 (0..1)")
    stub.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    stub.add_argument("--seed", type=int, default=0, help="seed of the failure draws (default 0)")
    stub.set_defaults(handler=run_reply_stub)

    replay = commands.add_parser("replay", help="resend dead-lettered hand-offs to the reply service")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every dead letter")
    which.add_argument("--tenant", help="the dead letters of this tenant id")
    which.add_argument("--event-id", help="this one dead letter")
    replay.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer (default 10)")
    replay.set_defaults(handler=run_replay)


def run_reply_stub(args: argparse.Namespace) -> int:
    from pipelines.handoff.stub import serve

    secret = args.secret or Settings.from_env().reply_secret
    try:
        stub = serve(args.port, secret, args.store, fail_rate=args.fail_rate, delay=args.delay, seed=args.seed)
    except (ValueError, OSError) as exc:
        print(f"seslake: error: {exc}", file=sys.stderr)
        return 2
    print(f"reply stub listening on {stub.inbound_url} (stats: {stub.url}/stats); Ctrl-C stops it", flush=True)
    try:
        stub.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stub.shutdown()
    print(f"reply stub stopped: {stub.stats()}")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from pipelines.cli.progress import Progress
    from pipelines.handoff.delivery import deliver, record_outcome
    from pipelines.handoff.ledger import DELIVERED, HandoffLedger, is_postgres_url
    from pipelines.handoff.signing import parse_secrets

    settings = Settings.from_env()
    secrets = parse_secrets(settings.reply_secret)
    if not secrets:
        print("seslake: error: SESLAKE_REPLY_SECRET is not set: cannot sign the requests", file=sys.stderr)
        return 2
    if not is_postgres_url(settings.handoff_ledger) and not Path(settings.handoff_ledger).is_file():
        print(f"seslake: error: no hand-off ledger at {settings.handoff_ledger}", file=sys.stderr)
        return 2
    with HandoffLedger(settings.handoff_ledger) as ledger:
        letters = ledger.dead_letters(tenant=args.tenant, event_id=args.event_id)
        delivered = 0
        progress = Progress("replaying", len(letters))
        for letter in letters:
            result = deliver(
                settings.reply_url,
                letter.payload,
                letter.event_id,
                secrets,
                max_attempts=REPLAY_ATTEMPTS,
                max_seconds=REPLAY_SECONDS,
                timeout=args.timeout,
            )
            if record_outcome(ledger, letter.event_id, result, replay=True).state == DELIVERED:
                delivered += 1
            else:
                print(f"  {letter.event_id} ({letter.tenant_id}): {result.outcome}: {result.last_error}")
            progress.advance(note=letter.event_id)
        progress.close()
    selection = "all" if args.all else (f"tenant {args.tenant}" if args.tenant else f"event {args.event_id}")
    print(
        f"replay ({selection}): {len(letters)} dead letters, {delivered} delivered, "
        f"{len(letters) - delivered} still dead-lettered → {settings.reply_url}"
    )
    return 0 if delivered == len(letters) else 1
