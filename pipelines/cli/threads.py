"""`seslake threads PATH... [--json] [--mailbox M]`: thread mail files offline with the batch's rules.

PATHs are message files (`.eml` or any single message), folders of them (searched recursively; names
starting with a dot are skipped) or mbox files (recognised by their leading `From ` line). With
`SESLAKE_TENANTS` set, messages are placed in their tenants' mailboxes as the ingest attributes them;
without it, one mailbox per envelope recipient (`pipelines.threads.offline` says how exactly).

Output with `--json`: one JSON object mapping each Message-ID (without angle brackets) to its thread id,
keys sorted. Without `--json`: one line per thread (id, messages, mailbox, first subject), oldest first.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipelines.cli import CommandError
from pipelines.settings import Settings


def add_parsers(commands: argparse._SubParsersAction) -> None:
    threads = commands.add_parser("threads", help="thread .eml files, folders of them or mbox files offline")
    threads.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="message file, folder or mbox")
    threads.add_argument("--json", action="store_true", help="print {Message-ID: thread id} as one JSON object")
    threads.add_argument(
        "--mailbox", metavar="NAME", help="thread everything as this one mailbox (a list archive, one person's mail)"
    )
    threads.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.tenants import TenantRegistryError, load_registry
    from pipelines.threads.offline import ThreadsError, thread_paths

    settings = Settings.from_env()
    registry = None
    if args.mailbox is None and settings.tenants:
        try:
            registry = load_registry(settings.tenants, settings.endpoint)
        except TenantRegistryError as exc:
            raise CommandError(str(exc)) from exc
    try:
        mapping, threads = thread_paths(args.paths, registry, args.mailbox, settings.tracking_secret)
    except ThreadsError as exc:
        raise CommandError(str(exc)) from exc
    if args.json:
        json.dump(mapping, sys.stdout, sort_keys=True, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for thread_id, (count, mailbox, subject) in threads.items():
            print(f"{thread_id}  {count:>4}  {mailbox or '-'}  {subject}")
        print(f"{len(mapping)} messages in {len(threads)} threads")
    return 0
