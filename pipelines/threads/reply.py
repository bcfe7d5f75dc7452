"""The headers an answer to a message should carry: In-Reply-To, References, the `Re:` subject and, for
Outlook, a child Thread-Index. `ReplyHeaders` is the one type every stage passes them in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pipelines.threads.identity import SES_DOMAIN, canonical_id, child_thread_index, junk_in_reply_to, ses_wire_id
from pipelines.threads.subjects import reply_subject, strip_reply_markers

MAX_REFERENCES = 20
"""Ids a reply's References keeps at most: the root and the most recent ones."""


@dataclass(frozen=True, slots=True)
class ReplyHeaders:
    in_reply_to: str
    """`<id>` of the message answered (its SES wire id when it is outbound)."""
    references: str
    """Space-separated `<id>`s: the root, then the most recent ids, ending with the message answered."""
    subject: str
    """`Re: ` + the subject without its reply markers (forward markers and tags stay)."""
    thread_index: str | None = None
    """A child Thread-Index when the message carried one (Outlook conversation view)."""
    thread_topic: str | None = None


def reply_headers(
    message_id: str | None,
    reference_ids: Sequence[str] = (),
    subject: str | None = "",
    *,
    ses_message_id: str | None = None,
    in_reply_to: str | None = None,
    addresses: Sequence[str] = (),
    thread_index: str | None = None,
    thread_root: str | None = None,
    aliases: Mapping[str, str] | None = None,
    now: datetime | None = None,
    max_references: int = MAX_REFERENCES,
) -> ReplyHeaders | None:
    """The In-Reply-To, References and subject an answer to this message should carry; None when the
    message has no id to answer to.

    For outbound mail the id answered is the SES wire id (SES replaced the archived Message-ID).
    `thread_root` (from `ThreadState.thread_root`) is put first when the message's own chain lacks it,
    so replies to mail joined by a soft rule still thread with the conversation at the customer's end;
    `aliases` maps archived outbound Message-IDs to SES wire ids. Long chains keep the root and the
    most recent `max_references - 1` ids.
    """
    if ses_message_id:
        wire = message_id if message_id and message_id.endswith(SES_DOMAIN) else None
        own = ses_wire_id(ses_message_id, wire.partition("@")[2] if wire else None)
    elif message_id:
        own = message_id
    else:
        return None
    junk = junk_in_reply_to(in_reply_to, [a.lower() for a in addresses])
    own_key = canonical_id(own)
    own_keys = {own_key, canonical_id(message_id)} if message_id else {own_key}
    chain: list[str] = []
    seen: set[str] = set()
    for ref in [*([thread_root] if thread_root else []), *reference_ids]:
        ref = "".join(ref.split()).strip("<>")
        if not ref or ref in junk:
            continue
        if aliases and ref in aliases:
            ref = aliases[ref]
        key = canonical_id(ref)
        if key in own_keys or key in seen:
            continue
        seen.add(key)
        chain.append(ref)
    chain.append(own)
    if len(chain) > max_references:
        chain = [chain[0], *chain[len(chain) - max_references + 1 :]]
    index = None
    if thread_index:
        index = child_thread_index(thread_index, now or datetime.now(UTC), own)
    return ReplyHeaders(
        in_reply_to=f"<{own}>",
        references=" ".join(f"<{ref}>" for ref in chain),
        subject=reply_subject(subject),
        thread_index=index,
        thread_topic=strip_reply_markers(subject) if index else None,
    )
