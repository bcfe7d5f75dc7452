"""Threading mail files offline with the batch's rules: reading `.eml` files, folders of them and mbox files,
and placing each message in its mailbox (what `seslake threads` runs).

Mailboxes: with a tenant registry each message is attributed to its tenant exactly as the ingest does
(inbound by envelope, forwarding headers and addresses; outbound by tag, configuration set, From domain,
then an `outbound/<tenant>/` path); mail that matches no tenant but was written to a tracking address
that a tenant's outbound mail set as Reply-To (its token verifying for that tenant) takes that tenant,
and the rest (what the ingest quarantines) is threaded apart in the `_unattributed` mailbox. Without a
registry each envelope recipient (SES's `Received … for`, then X-Forwarded-To / Delivered-To /
X-Original-To, plus-tags removed) is its own mailbox; mail without one takes the mailbox its From, To or
Cc address was seen receiving mail in (so an archived reply joins the mailbox its customer wrote to), a
`case-…` tracking recipient takes the mailbox of the outbound mail that set it as Reply-To, and anything
else shares the default mailbox ''. Mail of two mailboxes never joins one thread. `one_mailbox` puts
everything in one mailbox instead (a mailing-list archive, one person's maildir), registry or not.

Tracking tokens are keyed by tenant, so the tracking-address rule links mail only when the mailboxes are
tenants (with a registry, or a `one_mailbox` named after the tenant); without a registry a mailbox is an
envelope address, no token verifies and such mail is threaded by the other rules.

A message without a Message-ID is keyed `seslake-sha1-<sha1 of its bytes>`; when several files share a
Message-ID the first to arrive names the entry.
"""

from __future__ import annotations

import hashlib
import mailbox as mailbox_lib
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.storage.schemas import INBOUND, OUTBOUND, UNATTRIBUTED

if TYPE_CHECKING:
    from pipelines.mail.sandbox import ParseGuard
    from pipelines.mime.message import ParsedMessage
    from pipelines.tenants import TenantRegistry
    from pipelines.threads.inputs import MailItem

NO_ID_PREFIX = "seslake-sha1-"
_SES_OUTBOUND_ID = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}-[0-9a-f]{6}$")


class ThreadsError(Exception):
    """A problem with the input (a path that does not exist), said in one line."""


def iter_sources(paths: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(name, raw message) for every message under the paths, in a stable order."""
    for path in paths:
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and not any(s[0] == "." for s in p.relative_to(path).parts)
            )
        elif path.is_file():
            files = [path]
        else:
            raise ThreadsError(f"{path}: no such file or folder")
        for file in files:
            data = file.read_bytes()
            if data.startswith(b"From "):
                box = mailbox_lib.mbox(str(file), create=False)
                try:
                    for n, key in enumerate(box.iterkeys()):
                        yield f"{file}#{n + 1}", box.get_bytes(key)
                finally:
                    box.close()
            else:
                yield str(file), data


def thread_paths(
    paths: list[Path],
    registry: TenantRegistry | None = None,
    one_mailbox: str | None = None,
    tracking_secret: str = "",
) -> tuple[dict[str, str], dict[str, tuple[int, str, str]]]:
    """Thread every message under `paths`: ({Message-ID: thread id}, {thread id: (messages, mailbox,
    first subject)} oldest first). `tracking_secret` is `Settings.tracking_secret` ('' = the development key)."""
    from pipelines.threads.engine import ThreadState
    from pipelines.threads.inputs import columns_from_parsed

    if one_mailbox is not None:
        registry = None
    items, keys = mail_items(iter_sources(paths), registry, one_mailbox, tracking_secret)
    columns = columns_from_parsed(items, registry.inbound_domains if registry else None, tracking_secret)
    result = ThreadState().thread(columns)

    def arrival(i: int) -> tuple[float, str]:
        at = columns.arrived_at[i]
        return (float("-inf") if at is None else at, columns.row_key[i])

    mapping: dict[str, str] = {}
    threads: dict[str, tuple[int, str, str]] = {}
    for i in sorted(range(len(items)), key=arrival):
        thread_id = result.thread_ids[i]
        mapping.setdefault(keys[i], thread_id)
        count, mailbox, subject = threads.get(thread_id, (0, items[i].mailbox, items[i].message.subject))
        threads[thread_id] = (count + 1, mailbox, subject)
    return mapping, threads


def mail_items(
    sources: Iterable[tuple[str, bytes]],
    registry: TenantRegistry | None = None,
    one_mailbox: str | None = None,
    tracking_secret: str = "",
    guard: ParseGuard | None = None,
) -> tuple[list[MailItem], list[str]]:
    """Parse named raw messages and place each in its mailbox (see the module docstring): the items to
    thread and each one's output key (its Message-ID, or `seslake-sha1-…`). Each message is parsed in a
    guarded worker process (`pipelines.mail.sandbox`, budgets from `guard`, else the settings): input
    that is not mail, or that crashes the parser or overruns its time or memory, is reported on stderr
    with the reason and left out."""
    from pipelines.mail.sandbox import Refusal, parse_sources
    from pipelines.threads.inputs import MailItem
    from pipelines.threads.tracking import verify_tracking_address

    items: list[MailItem] = []
    keys: list[str] = []
    for name, raw, message in parse_sources(sources, guard=guard):
        if isinstance(message, Refusal):
            print(f"seslake: skipping {name}: {message}", file=sys.stderr)
            continue
        direction = _direction(message, name)
        ses_id = _ses_id(message, name) if direction == OUTBOUND else None
        keys.append(message.message_id or NO_ID_PREFIX + hashlib.sha1(raw).hexdigest())
        items.append(MailItem(message, "", direction, ses_id, row_key=f"{len(items):09d} {name}"))
    if one_mailbox is not None:
        for item in items:
            item.mailbox = one_mailbox
    elif registry is not None:
        for item in items:
            item.mailbox = _tenant(registry, item)
        _resolve_tracking(
            items,
            lambda mailbox: mailbox == UNATTRIBUTED,
            lambda address, tenant: verify_tracking_address(address, tenant, secret=tracking_secret) is not None,
        )
    else:
        _assign_mailboxes(items)
    return items, keys


def _direction(message: ParsedMessage, name: str) -> str:
    """Inbound when SES received it; outbound when archived under outbound/ or sent through SES."""
    if message.ses.smtp_id or message.ses.envelope_recipients:
        return INBOUND
    parts = Path(name.split("#", 1)[0]).parts
    if OUTBOUND in parts:
        return OUTBOUND
    if INBOUND in parts:
        return INBOUND
    headers = message.headers
    if headers.get("x-ses-configuration-set") or headers.get("x-ses-message-tags") or _ses_id(message, name):
        return OUTBOUND
    return INBOUND


def _ses_id(message: ParsedMessage, name: str) -> str | None:
    """The SES id of an archived send: the file name (`<sesId>.eml`) or an SES Message-ID."""
    stem = Path(name.split("#", 1)[0]).name.removesuffix(".eml")
    if _SES_OUTBOUND_ID.match(stem):
        return stem
    if message.message_id and message.message_id.endswith("amazonses.com"):
        return message.message_id.partition("@")[0]
    return None


def _tenant(registry: TenantRegistry, item: MailItem) -> str:
    """The tenant as the ingest attributes it (an `outbound/<tenant>/` path standing for the archive key)."""
    if item.direction == OUTBOUND:
        parts = Path(item.row_key.split(" ", 1)[1].split("#", 1)[0]).parts
        archive = parts[parts.index(OUTBOUND) + 1] if OUTBOUND in parts[:-2] else None
        attribution = registry.attribute_outbound(item.message, archive)
    else:
        attribution = registry.attribute_inbound(item.message)
    return attribution.tenant_id if attribution else UNATTRIBUTED


def _assign_mailboxes(items: list[MailItem]) -> None:
    """Mailboxes without a registry (see the module docstring)."""
    from pipelines.tenants import canonical_address
    from pipelines.threads.tracking import is_tracking_address

    seen_in: dict[str, str | None] = {}
    for item in items:
        m = item.message
        envelope = [*m.ses.envelope_recipients, *m.forwarded_to]
        if envelope:
            item.mailbox = canonical_address(envelope[0])
            for address in [*envelope, *(a.address for a in (*m.to, *m.cc))]:
                address = canonical_address(address)
                if seen_in.setdefault(address, item.mailbox) != item.mailbox:
                    seen_in[address] = None  # seen in two mailboxes: tells nothing
    for item in items:
        m = item.message
        if item.mailbox:
            continue
        for address in [*(a.address for a in ([m.from_] if m.from_ else [])), *(a.address for a in (*m.to, *m.cc))]:
            if found := seen_in.get(canonical_address(address)):
                item.mailbox = found
                break
    _resolve_tracking(
        items,
        lambda mailbox: not mailbox or is_tracking_address(mailbox),
        lambda address, _: is_tracking_address(address),
    )


def _resolve_tracking(
    items: list[MailItem], unknown: Callable[[str], bool], names_case: Callable[[str, str], bool]
) -> None:
    """Mail whose mailbox is unknown but that was sent to a tracking address takes the mailbox of the
    outbound mail that set that address as Reply-To (the last attribution rule). Only our own
    outbound mail names a case, and only with an address `names_case(address, mailbox)` accepts."""
    case_mailbox: dict[str, str] = {}
    for item in items:
        if item.direction == OUTBOUND and not unknown(item.mailbox):
            for a in item.message.reply_to:
                if names_case(a.address, item.mailbox):
                    case_mailbox.setdefault(a.address.lower(), item.mailbox)
    for item in items:
        if unknown(item.mailbox):
            m = item.message
            for address in [*m.ses.envelope_recipients, *m.forwarded_to, *(a.address for a in (*m.to, *m.cc))]:
                if found := case_mailbox.get(address.lower()):
                    item.mailbox = found
                    break
