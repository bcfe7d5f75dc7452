"""Thread reconstruction for the support inbox: every message gets a stable `thread_id`.

Messages are taken in arrival order and each is linked, within its mailbox (a tenant, or one
envelope mailbox when no registry is known; nothing ever links across mailboxes), by:

1. **References** (JWZ-style, "hard" links): the message's own id and every `<id>` of References and
   In-Reply-To join one thread. Ids never seen as a message become placeholders, so two replies to a
   lost message stay together. Self-references are dropped; reference loops cannot loop (grouping is a
   union-find, and `reply_headers` never walks parents). In-Reply-To tokens that are really addresses
   (an address of the message itself, or an unnumbered address-like token in an old-style
   `In-Reply-To: Your message of ... <joe@host>` phrase) are ignored.
2. **SES ids**: an outbound message is also known by `<sesMessageId@…amazonses.com>` (any region's
   domain), whatever Message-ID its archived MIME carried; both ids name the same message.
3. **Duplicate Message-IDs**: a second message with a known id is a *copy* when it has the same
   sender and Date (one mail delivered twice, or fanned out by a list): it is the same message, and only
   its references (a fanned-out copy may carry other ones) are linked. Otherwise
   it is a *clash* (a broken mailer or a web form reusing one id): it gets its own key `<id> dup:<hash>`
   and its own thread, and a reference to that id goes to the owner whose participants overlap the
   referencing message's (else to the first owner).
4. **Soft links** move only a message that has no usable references of its own (with the replies it
   received), onto a thread that mail arriving before it started; so two threads that each have
   references are never glued together by them:
   - an Outlook Thread-Index conversation GUID (bytes 6..22 of the decoded header, after the reserved
     byte and 40-bit FILETIME, MS-OXOMSG 2.2.1.3), held by the first message that carried it;
   - a tracking address (`<mailbox>+case-<id>-<mac>@…`, `pipelines.threads.tracking`), given only when
     its keyed token verified: registered by our own outbound mail that set it as Reply-To (the first
     one holds it), joined by inbound mail sent to it (To, Cc or envelope). Inbound mail never registers
     or claims a case, whatever its Reply-To says;
   - the subject, for a message that no other rule joined and whose subject carries a reply or forward
     marker (`Re:`, `RES:`, `AW:`, `SV:`, `Antw:`, `RV:`, `Fwd:`, `回复:` …): the latest earlier message
     of the mailbox with the same normalized subject and an overlapping counterparty, at most
     `subject_window` seconds before it.

   **Unauthenticated mail gets no soft link**: inbound mail whose DMARC verdict is `fail`, or none of
   whose SPF, DKIM and DMARC verdicts is `pass` (`fails_authentication`), may have a forged From or
   Reply-To, so it neither joins nor holds anything by Thread-Index, tracking address or subject: only
   its own references place it, or it starts a thread. Authentication vouches for the From alone, so
   inbound mail with verdicts is matched by the subject rule on its From, never on its Reply-To (the
   earlier mail it joins still counts its Reply-To: a web form's customer). Outbound mail (ours) is
   trusted; mail without any verdict (not received through SES, e.g. files threaded offline) is treated
   as before.

`thread_id` is a hash of the mailbox and the key of the thread's first-arrived message, so adding mail
never renames a thread. When new mail genuinely joins two existing threads (a reply referencing both,
a late message that was the missing parent of both), the thread whose first message arrived first
keeps its id and the other's id is reported in `ThreadResult.renamed`. Every soft decision depends only
on mail that arrived before the message, so threading an archive in one call or one day at a time
(against a saved `ThreadState`) gives the same ids when the mail arrives in the same order.
"""

from __future__ import annotations

import gc
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.threads.identity import SES_DOMAIN, junk_in_reply_to, ses_wire_id, thread_id_for, thread_index_guid
from pipelines.threads.reply import ReplyHeaders, reply_headers

SUBJECT_WINDOW = 7 * 86400
"""Seconds: a reference-less message joins a same-subject thread only this soon after its last match."""
STATE_VERSION = 2
"""Version 2: only verified tracking addresses of outbound mail are registered (version 1 also kept cases
claimed by inbound Reply-To and unkeyed tokens), and unauthenticated mail holds no soft key."""

# Message ids never contain spaces (extraction strips whitespace), so these prefixes cannot collide.
_TI_KEY = " ti "
_RT_KEY = " rt "
_ROW_KEY = " row "
_DUP_KEY = " dup:"
_NO_VERDICTS = (None, None, None)


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass(slots=True)
class ThreadColumns:
    """What threading reads of each message, as parallel lists (one batch of rows).

    Ids are bare (no angle brackets). Times are seconds since the epoch (UTC). `participants` are the
    counterparties, lower-cased (for inbound mail its Reply-To or From, for outbound mail To and Cc);
    `addresses` every address of the message, lower-cased (to recognise addresses in In-Reply-To);
    `tracking` its verified tracking addresses (for outbound mail those it set as Reply-To, for inbound
    mail those it was sent to).
    """

    mailbox: list[str] = field(default_factory=list)
    row_key: list[str] = field(default_factory=list)
    """Unique per row; names messages that have no Message-ID."""
    message_id: list[str | None] = field(default_factory=list)
    ses_message_id: list[str | None] = field(default_factory=list)
    """Outbound messages only: the SES id their wire Message-ID is built from."""
    outbound: list[bool | None] = field(default_factory=list)
    """Our own mail (sent by the reply service): trusted, and the only mail that registers a case."""
    reference_ids: list[Sequence[str] | None] = field(default_factory=list)
    """Every id of References then In-Reply-To, in order (the lake's `reference_ids`)."""
    in_reply_to: list[str | None] = field(default_factory=list)
    """The In-Reply-To header as written."""
    thread_index: list[str | None] = field(default_factory=list)
    tracking: list[Sequence[str] | None] = field(default_factory=list)
    """Tracking addresses whose token verified for the mailbox (`pipelines.threads.tracking`), lower-cased."""
    subject: list[str | None] = field(default_factory=list)
    """Normalized subject (`pipelines.subjects.normalize_subject`)."""
    subject_marked: list[bool | None] = field(default_factory=list)
    """The subject as written starts with a reply or forward marker (`subject_has_marker`)."""
    from_address: list[str | None] = field(default_factory=list)
    participants: list[Sequence[str] | None] = field(default_factory=list)
    addresses: list[Sequence[str] | None] = field(default_factory=list)
    spf_verdict: list[str | None] = field(default_factory=list)
    """SES's verdicts on inbound mail, lower-case (`pass`, `fail`, `softfail`, `none` …); None when absent."""
    dkim_verdict: list[str | None] = field(default_factory=list)
    dmarc_verdict: list[str | None] = field(default_factory=list)
    sent_at: list[float | None] = field(default_factory=list)
    """The Date header: with the sender, what tells a copy from a clash."""
    arrived_at: list[float | None] = field(default_factory=list)
    """When the message reached the mailbox (SES receipt or send time): arrival order and windows."""

    def __len__(self) -> int:
        return len(self.mailbox)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, object]]) -> ThreadColumns:
        """Columns from dicts keyed by field name (missing fields are None; `row_key` defaults to the index)."""
        columns = cls()
        names = [f.name for f in fields(cls)]
        for index, record in enumerate(records):
            for name in names:
                value = record.get(name)
                if name == "row_key" and value is None:
                    value = str(index)
                if name == "mailbox" and value is None:
                    value = ""
                getattr(columns, name).append(value)
        return columns


def fails_authentication(spf: str | None, dkim: str | None, dmarc: str | None) -> bool:
    """True for mail whose sender nothing vouches for: DMARC `fail`, or verdicts present and none of SPF,
    DKIM and DMARC `pass` (`softfail`, `neutral`, `none`, `temperror` … do not pass). False when every
    verdict is absent (mail that did not come through SES's receiving), whose trust is not known."""
    if dmarc is None and spf is None and dkim is None:
        return False
    return dmarc == "fail" or "pass" not in (spf, dkim, dmarc)


def message_key(message_id: str | None, ses_message_id: str | None, row_key: str) -> str:
    """The key threading gives a message's own node: the SES wire id for outbound mail (its archived id
    when that already is the wire id), else the Message-ID, else ` row <row_key>`."""
    if ses_message_id:
        mid = message_id
        if mid and mid.endswith(SES_DOMAIN) and mid.startswith(ses_message_id):
            return mid
        return ses_wire_id(ses_message_id)
    return message_id if message_id else _ROW_KEY + row_key


def clash_key(key: str, from_address: str | None, sent_at: float | None) -> str:
    """The key of a message that reuses a known id with another sender or Date: `<id> dup:<crc>`."""
    text = f"{(from_address or '').lower()}\x1f{_second(sent_at)}"
    return f"{key}{_DUP_KEY}{zlib.crc32(text.encode('utf-8', 'surrogatepass')):08x}"


@dataclass(slots=True)
class Reach:
    """What threading a batch can look up in one mailbox's state: the keys of `ThreadState.ids` (and of
    `clashes`), of `ses`, of `aliases` and of `subjects`, and the earliest arrival of a row with a subject
    (the subject rule looks back `subject_window` seconds from it)."""

    node_keys: set[str] = field(default_factory=set)
    ses_ids: set[str] = field(default_factory=set)
    alias_ids: set[str] = field(default_factory=set)
    subjects: set[str] = field(default_factory=set)
    earliest: float | None = None

    def add_ses_id(self, ses_message_id: str) -> None:
        """An SES id reaches its `ses` entry and its wire id's node."""
        self.ses_ids.add(ses_message_id)
        self.node_keys.add(ses_wire_id(ses_message_id))


def reachable_keys(columns: ThreadColumns) -> dict[str, Reach]:
    """Per mailbox, every key `ThreadState.thread` and `ThreadState.reply_headers` may look up for these
    rows, besides the ones reached through what they find (an alias's SES id, a node's union-find root, a
    subject's earlier messages, a clash's owners): what a partially loaded state must hold so that
    threading the rows gives the ids the whole state gives."""
    reach: dict[str, Reach] = {}
    for i, mailbox in enumerate(columns.mailbox):
        found = reach.get(mailbox)
        if found is None:
            found = reach[mailbox] = Reach()
        mid, ses = columns.message_id[i], columns.ses_message_id[i]
        key = message_key(mid, ses, columns.row_key[i])
        found.node_keys.add(key)
        found.node_keys.add(clash_key(key, columns.from_address[i], columns.sent_at[i]))
        for ident in (mid, ses):
            if ident:
                found.node_keys.add(ident)
                found.alias_ids.add(ident)
                if ident.endswith(SES_DOMAIN) or "@" not in ident:
                    found.add_ses_id(ident.partition("@")[0])
        for ref in columns.reference_ids[i] or ():
            found.node_keys.add(ref)
            found.alias_ids.add(ref)
            if ref.endswith(SES_DOMAIN):
                found.add_ses_id(ref.partition("@")[0])
        thread_index = columns.thread_index[i]
        guid = thread_index_guid(thread_index) if thread_index else None
        if guid:
            found.node_keys.add(_TI_KEY + guid)
        for address in columns.tracking[i] or ():
            found.node_keys.add(_RT_KEY + address.lower())
        subject, arrived_at = columns.subject[i], columns.arrived_at[i]
        if subject and arrived_at is not None:
            found.subjects.add(subject)
            if found.earliest is None or arrived_at < found.earliest:
                found.earliest = arrived_at
    return reach


@dataclass(slots=True)
class ThreadResult:
    thread_ids: list[str]
    """Per input row, in input order."""
    renamed: dict[str, str]
    """Threads that existed before this call and were joined into an older one: old id -> surviving id."""
    new_messages: int
    """Messages not seen before (copies excluded)."""


# --------------------------------------------------------------------------------------------
# The threader


class ThreadState:
    """Everything threading knows, to thread new mail incrementally; saved as Arrow tables.

    Nodes are integers numbered in creation order, one per distinct key within a mailbox (message id,
    placeholder, SES id, Thread-Index GUID, tracking address, clash key). A message's node is created
    when it, or the first reference to it, arrives, so the smallest node of a thread is always its
    first-arrived message: the union-find keeps each root at its smallest node, and that node's key
    names the thread. Per-node facts live in flat lists (no object per message), which keeps memory
    low and the garbage collector idle.

    A state may also hold just part of a larger one (`pipelines.threads.state_store` loads the nodes a
    batch can reach, `reachable_keys`, numbered in their original order): threading only compares node
    numbers, so the batch gets the ids the whole state would give.
    """

    def __init__(self, subject_window: int = SUBJECT_WINDOW) -> None:
        self.subject_window = subject_window
        self.ids: dict[str, dict[str, int]] = {}
        """mailbox -> key -> node."""
        self.parent: list[int] = []
        self.key: list[str] = []
        """Per node: its key."""
        self.parts: list[Sequence[str] | None] = []
        """Per node: the participants of the message it names; None for placeholders and soft keys."""
        self.sender: list[str | None] = []
        """Per node: the message's From (with its Date, what tells a copy from a clash)."""
        self.sent: list[float | None] = []
        self.arrived: list[float | None] = []
        self.subjects: dict[str, dict[str, int]] = {}
        """mailbox -> normalized subject -> the latest message node with it."""
        self.earlier: list[int] = []
        """Per node: the previous message node of its mailbox with the same subject, or -1."""
        self.clashes: dict[str, dict[str, list[int]]] = {}
        """mailbox -> clashing id -> owner nodes (first owner first)."""
        self.aliases: dict[str, dict[str, str]] = {}
        """mailbox -> archived outbound Message-ID -> SES id (the wire id's local part)."""
        self.ses: dict[str, dict[str, int]] = {}
        """mailbox -> SES id -> node of a wire id referenced in another region's form, or before its
        outbound message came (outbound messages themselves are keyed by their wire id)."""
        self.messages = 0
        """Distinct messages threaded so far (copies count once)."""
        self.max_arrived = 0.0

    # ------------------------------------------------------------------ union-find
    def root(self, node: int) -> int:
        """The union-find root of a node: its thread's first-arrived message (or placeholder)."""
        return self._find(node)

    def _find(self, x: int) -> int:
        parent = self.parent
        while True:
            p = parent[x]
            if p == x:
                return x
            g = parent[p]
            if g == p:
                return p
            parent[x] = g
            x = g

    def _new(self, key: str, attach_to: int = -1) -> int:
        n = len(self.parent)
        self.parent.append(n if attach_to < 0 else attach_to)
        self.key.append(key)
        self.parts.append(None)
        self.sender.append(None)
        self.sent.append(None)
        self.arrived.append(None)
        self.earlier.append(-1)
        return n

    def _union(self, ra: int, rb: int, mailbox: str, start: int, joined: list[tuple[str, int]]) -> int:
        """Join two roots; the smaller node (the older thread's first message) stays the root."""
        if ra == rb:
            return ra
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        if rb < start:
            joined.append((mailbox, rb))
        return ra

    # ------------------------------------------------------------------ threading
    def thread(self, columns: ThreadColumns, *, presorted: bool = False) -> ThreadResult:
        """Thread a batch of messages against the state (which it updates) and return each row's thread.

        Rows are taken in arrival order (`arrived_at`, ties by `row_key`) unless `presorted`. References
        are linked first, for the whole batch; then the soft rules run row by row in arrival order,
        each looking only at mail that arrived before the row.
        """
        with no_cyclic_gc():
            return self._thread(columns, presorted)

    def _thread(self, columns: ThreadColumns, presorted: bool) -> ThreadResult:
        n = len(columns)
        order = list(range(n)) if presorted else _arrival_order(columns.arrived_at, columns.row_key)
        arranged = order == list(range(n))

        def ordered(column: list) -> list:
            return column if arranged else [column[i] for i in order]

        start = len(self.parent)
        nodes = [0] * n
        """Per row: the message's node."""
        fresh = bytearray(n)
        """Per row: 1 when it is a message not seen before (not a copy)."""
        joined: list[tuple[str, int]] = []
        """(mailbox, node) of roots of threads that existed before this call and were joined."""
        mailboxes = ordered(columns.mailbox)
        arrived_col = ordered(columns.arrived_at)

        parent, keys, parts_of, sender, sent, arrived, earlier = (
            self.parent,
            self.key,
            self.parts,
            self.sender,
            self.sent,
            self.arrived,
            self.earlier,
        )
        find, union, soft = self._find, self._union, self._soft
        all_ids, all_clashes, all_aliases, all_ses = self.ids, self.clashes, self.aliases, self.ses
        all_subjects = self.subjects
        window = self.subject_window
        no_parts: tuple[str, ...] = ()

        # Columns most rows use are walked in arrival order; the rarely used ones are read by row index.
        row_keys, irt_col, addr_col, ti_col, tracking_col, marked_col = (
            columns.row_key,
            columns.in_reply_to,
            columns.addresses,
            columns.thread_index,
            columns.tracking,
            columns.subject_marked,
        )
        outbound_col, spf_col, dkim_col, dmarc_col = (
            columns.outbound,
            columns.spf_verdict,
            columns.dkim_verdict,
            columns.dmarc_verdict,
        )
        _check_lengths(columns, n)
        rows = zip(
            order,
            mailboxes,
            ordered(columns.message_id),
            ordered(columns.ses_message_id),
            ordered(columns.reference_ids),
            ordered(columns.from_address),
            ordered(columns.sent_at),
            arrived_col,
            ordered(columns.participants),
            ordered(columns.subject),
            strict=True,
        )
        for i, mailbox, mid, ses, refs, from_address, sent_at, arrived_at, parts, subject in rows:
            ids = all_ids.get(mailbox)
            if ids is None:
                ids = all_ids[mailbox] = {}
                all_ses[mailbox] = {}
                all_aliases[mailbox] = {}
                all_subjects[mailbox] = {}
            if ses:  # message_key(), inlined
                key = mid if mid and mid.endswith(SES_DOMAIN) and mid.startswith(ses) else ses_wire_id(ses)
            elif mid:
                key = mid
            else:
                key = _ROW_KEY + row_keys[i]
            if parts is None:
                parts = no_parts
            copy = False

            # The message's own node: new, a placeholder whose message has come, a copy, or a clash.
            node = ids.get(key)
            if node is None:
                node = ids[key] = len(parent)
                parent.append(node)
                keys.append(key)
                parts_of.append(parts)
                sender.append(from_address)
                sent.append(sent_at)
                arrived.append(arrived_at)
                earlier.append(-1)
                root = node
            else:
                if parts_of[node] is None:
                    parts_of[node] = parts
                    sender[node] = from_address
                    sent[node] = sent_at
                    arrived[node] = arrived_at
                elif _same_message(sender[node], sent[node], from_address, sent_at):
                    copy = True  # the same message again: only its references can add anything
                else:
                    node = self._clash(mailbox, ids, key, node, from_address, sent_at, arrived_at, parts)
                    if node < 0:
                        node, copy = -node - 1, True
                root = find(node)
            nodes[i] = node
            fresh[i] = not copy

            ses_nodes = all_ses[mailbox]
            if ses and not copy:
                # Known by its SES id in any region's form, and by the Message-ID SES replaced: a reference
                # made to either before this message arrived left a placeholder to join.
                other = ses_nodes.get(ses) if ses_nodes else None
                if other is not None and other != node and parts_of[other] is None:
                    root = union(root, find(other), mailbox, start, joined)
                if mid and mid != key:
                    all_aliases[mailbox][mid] = ses
                    other = ids.get(mid)
                    if other is not None and parts_of[other] is None:
                        root = union(root, find(other), mailbox, start, joined)

            # Hard links: every usable reference.
            found = False
            if refs:
                clashes = all_clashes.get(mailbox)
                junk = None
                for ref in refs:
                    other = ids.get(ref)
                    if other is None or parts_of[other] is None:
                        # Not a message we have: perhaps address junk, an SES id written with another
                        # region's domain, or an outbound message's archived Message-ID.
                        if junk is None:
                            irt = irt_col[i]
                            junk = junk_in_reply_to(irt, addr_col[i] or ()) if irt else frozenset()
                        if junk and ref in junk:
                            continue
                        if other is None:
                            if ref.endswith(SES_DOMAIN):  # perhaps written with another region's domain
                                local = ref.partition("@")[0]
                                other = ses_nodes.get(local)
                                if other is None:
                                    other = ids.get(ses_wire_id(local))
                                if other is None:
                                    ses_nodes[local] = len(parent)
                            else:
                                alias = all_aliases[mailbox].get(ref)
                                if alias:
                                    other = ses_nodes.get(alias)
                                    if other is None:
                                        other = ids.get(ses_wire_id(alias))
                        if other is None:
                            ids[ref] = len(parent)
                            parent.append(root)
                            keys.append(ref)
                            parts_of.append(None)
                            sender.append(None)
                            sent.append(None)
                            arrived.append(None)
                            earlier.append(-1)
                            found = True
                            continue
                    if other == node:  # a self-reference
                        continue
                    found = True
                    if clashes and ref in clashes:
                        other = _pick_owner(clashes[ref], parts_of, parts)
                    p = parent[other]
                    if p != other:  # find(), inlined for the usual depth of one
                        other = p if parent[p] == p else find(other)
                    if other != root:
                        if other < root:
                            parent[root] = other
                            if root < start:
                                joined.append((mailbox, root))
                            root = other
                        else:
                            parent[other] = root
                            if other < start:
                                joined.append((mailbox, other))

            # Soft links: they move only a message without usable references, and only onto mail that
            # arrived before it (every decision here looks at earlier rows alone). Mail that fails
            # authentication takes no part in them: it neither joins nor holds anything by them.
            if copy:
                continue
            ours = outbound_col[i]
            dmarc = dmarc_col[i]
            if not ours and dmarc != "pass" and fails_authentication(spf_col[i], dkim_col[i], dmarc):
                continue
            linked = False
            thread_index = ti_col[i]
            if thread_index:
                guid = thread_index_guid(thread_index)
                if guid:
                    linked = soft(mailbox, _TI_KEY + guid, node, found, start, joined)
            tracking = tracking_col[i]
            if tracking:
                for address in tracking:
                    key = _RT_KEY + address.lower()
                    if ours:  # our answer set it as Reply-To: it registers the case (the first one holds it)
                        linked = soft(mailbox, key, node, found, start, joined) or linked
                    else:  # mail sent to it joins a case our mail registered, never registers one
                        linked = self._join(mailbox, key, node, found, start, joined) or linked
            if not subject or arrived_at is None:
                continue
            index = all_subjects[mailbox]
            other = index.get(subject)
            index[subject] = node
            if other is None:
                continue
            earlier[node] = other
            if not found and not linked and parts and marked_col[i]:
                mine = set(parts)
                if not ours and (dmarc, spf_col[i], dkim_col[i]) != _NO_VERDICTS:
                    # SES's verdicts vouch for the From alone: a Reply-To may name anyone
                    mine = {from_address.lower()} if from_address else set()
                while other >= 0:
                    other_at = arrived[other]
                    if arrived_at - other_at > window:
                        break
                    if other_at <= arrived_at and not mine.isdisjoint(parts_of[other]):
                        union(find(node), find(other), mailbox, start, joined)
                        break
                    other = earlier[other]

        messages = fresh.count(1)
        self.messages += messages
        arrivals = arrived_col if None not in arrived_col else [t for t in arrived_col if t is not None]
        if arrivals:
            self.max_arrived = max(self.max_arrived, max(arrivals))

        roots = [parent[node] for node in nodes]
        roots = [root if parent[root] == root else find(root) for root in roots]
        mailbox_of = dict(zip(roots, columns.mailbox, strict=True))  # a thread never spans mailboxes
        tids = {root: thread_id_for(mailbox, keys[root]) for root, mailbox in mailbox_of.items()}
        thread_ids = [tids[root] for root in roots]
        renamed = {}
        for mailbox, old in joined:
            survivor = find(old)
            if survivor != old:
                renamed[thread_id_for(mailbox, keys[old])] = thread_id_for(mailbox, keys[survivor])
        return ThreadResult(thread_ids, renamed, messages)

    def _soft(
        self, mailbox: str, key: str, node: int, has_refs: bool, start: int, joined: list[tuple[str, int]]
    ) -> bool:
        """Register a soft key (the first holder keeps it) or, for a message without usable references,
        join the thread of its holder."""
        ids = self.ids[mailbox]
        other = ids.get(key)
        if other is None:
            ids[key] = self._new(key, self._find(node))
            return False
        if has_refs:
            return False
        self._union(self._find(node), self._find(other), mailbox, start, joined)
        return True

    def _join(
        self, mailbox: str, key: str, node: int, has_refs: bool, start: int, joined: list[tuple[str, int]]
    ) -> bool:
        """For a message without usable references, join the thread holding a soft key, if one holds it."""
        other = self.ids[mailbox].get(key)
        if other is None or has_refs:
            return False
        self._union(self._find(node), self._find(other), mailbox, start, joined)
        return True

    def _clash(
        self,
        mailbox: str,
        ids: dict[str, int],
        key: str,
        node: int,
        from_address: str | None,
        sent_at: float | None,
        arrived_at: float | None,
        parts: Sequence[str],
    ) -> int:
        """A different message reusing a known id gets its own node `<id> dup:<hash>`. Returns that node,
        or `-node - 1` when it is a copy of a clash already seen."""
        dup_key = clash_key(key, from_address, sent_at)
        owners = self.clashes.setdefault(mailbox, {}).setdefault(key, [node])
        dup = ids.get(dup_key)
        if dup is not None:
            return -dup - 1
        dup = ids[dup_key] = self._new(dup_key)
        self.parts[dup], self.sender[dup], self.sent[dup], self.arrived[dup] = parts, from_address, sent_at, arrived_at
        owners.append(dup)
        return dup

    # ------------------------------------------------------------------ queries
    def _node_of(self, mailbox: str, message_id: str) -> int | None:
        ids = self.ids.get(mailbox, {})
        node = ids.get(message_id)
        if node is None:
            ses = self.aliases.get(mailbox, {}).get(message_id)
            if ses is None and (message_id.endswith(SES_DOMAIN) or "@" not in message_id):
                ses = message_id.partition("@")[0]
            if ses:
                node = self.ses.get(mailbox, {}).get(ses)
                if node is None:
                    node = ids.get(ses_wire_id(ses))
        return node

    def thread_of(self, mailbox: str, message_id: str) -> str | None:
        """The thread id of a message (or of the thread a placeholder id belongs to), if known."""
        node = self._node_of(mailbox, message_id)
        return None if node is None else thread_id_for(mailbox, self.key[self._find(node)])

    def thread_root(self, mailbox: str, message_id: str) -> str | None:
        """The id (SES wire id for outbound mail) of the first message of the thread holding this id."""
        node = self._node_of(mailbox, message_id)
        if node is None:
            return None
        key = self.key[self._find(node)]
        if key.startswith(_ROW_KEY):
            return None
        return key.split(_DUP_KEY, 1)[0]

    def mailbox_of_tracking(self, address: str) -> str | None:
        """The mailbox (tenant) whose outbound mail registered a tracking address as its Reply-To, if any:
        what attributes mail sent to `case-<token>@…` when nothing else does."""
        key = _RT_KEY + address.lower()
        return next((mailbox for mailbox, ids in self.ids.items() if key in ids), None)

    def reply_headers(
        self,
        mailbox: str,
        message_id: str | None,
        reference_ids: Sequence[str] = (),
        subject: str | None = "",
        *,
        ses_message_id: str | None = None,
        in_reply_to: str | None = None,
        addresses: Sequence[str] = (),
        thread_index: str | None = None,
        now: datetime | None = None,
    ) -> ReplyHeaders | None:
        """`reply_headers` with the thread root and the archived-id aliases this state knows."""
        lookup = ses_message_id or message_id
        known = self.aliases.get(mailbox, {})
        return reply_headers(
            message_id,
            reference_ids,
            subject,
            ses_message_id=ses_message_id,
            in_reply_to=in_reply_to,
            addresses=addresses,
            thread_index=thread_index,
            thread_root=self.thread_root(mailbox, lookup) if lookup else None,
            aliases={ref: ses_wire_id(known[ref]) for ref in reference_ids if ref in known},
            now=now,
        )

    def _node_mailboxes(self) -> list[str]:
        mailboxes = [""] * len(self.parent)
        for mailbox, ids in self.ids.items():
            for node in ids.values():
                mailboxes[node] = mailbox
        return mailboxes

    def assignments(self) -> pa.Table:
        """The mapping table: every message key and its thread (mailbox, message_key, thread_id).

        Keys are bare Message-IDs; `<sesId>@amazonses.com` for outbound mail; `<id> dup:<hash>` for a
        clashing duplicate; ` row <row_key>` for mail without a Message-ID."""
        mailboxes = self._node_mailboxes()
        tids: dict[int, str] = {}
        out_mailbox, out_key, out_thread = [], [], []
        for node, parts in enumerate(self.parts):
            if parts is None:
                continue
            root = self._find(node)
            tid = tids.get(root)
            if tid is None:
                tid = tids[root] = thread_id_for(mailboxes[node], self.key[root])
            out_mailbox.append(mailboxes[node])
            out_key.append(self.key[node])
            out_thread.append(tid)
        return pa.table({"mailbox": out_mailbox, "message_key": out_key, "thread_id": out_thread})

    # ------------------------------------------------------------------ persistence
    def to_tables(self) -> dict[str, pa.Table]:
        """The state as Arrow tables: `nodes` (one row per node, in node order), `subjects` (the latest
        node per mailbox and subject; `nodes.earlier` chains back), `clashes`, `aliases` and `ses`."""
        with no_cyclic_gc():
            return self._to_tables()

    def _to_tables(self) -> dict[str, pa.Table]:
        meta = {
            b"version": str(STATE_VERSION).encode(),
            b"subject_window": str(self.subject_window).encode(),
            b"max_arrived": repr(self.max_arrived).encode(),
            b"messages": str(self.messages).encode(),
        }
        find = self._find
        nodes = pa.table(
            {
                "mailbox": pa.array(self._node_mailboxes(), pa.string()).dictionary_encode(),
                "key": pa.array(self.key, pa.string()),
                "root": pa.array([find(x) for x in range(len(self.parent))], pa.int64()),
                "participants": pa.array(self.parts, pa.list_(pa.string())),
                "from_address": pa.array(self.sender, pa.string()),
                "sent_at": pa.array(self.sent, pa.float64()),
                "arrived_at": pa.array(self.arrived, pa.float64()),
                "earlier": pa.array(self.earlier, pa.int64()),
            }
        ).replace_schema_metadata(meta)
        clash_rows = [(m, k, owners) for m, c in self.clashes.items() for k, owners in c.items()]
        return {
            "nodes": nodes,
            "subjects": _pairs_table(self.subjects, "subject", "node", pa.int64()),
            "clashes": pa.table(
                {
                    "mailbox": pa.array([r[0] for r in clash_rows], pa.string()),
                    "message_id": pa.array([r[1] for r in clash_rows], pa.string()),
                    "owners": pa.array([r[2] for r in clash_rows], pa.list_(pa.int64())),
                }
            ),
            "aliases": _pairs_table(self.aliases, "message_id", "ses_message_id", pa.string()),
            "ses": _pairs_table(self.ses, "ses_message_id", "node", pa.int64()),
        }

    @classmethod
    def from_tables(cls, tables: Mapping[str, pa.Table]) -> ThreadState:
        with no_cyclic_gc():
            return cls._from_tables(tables)

    @classmethod
    def _from_tables(cls, tables: Mapping[str, pa.Table]) -> ThreadState:
        nodes = tables["nodes"]
        meta = nodes.schema.metadata or {}
        version = int(meta.get(b"version", b"0"))
        if version != STATE_VERSION:
            raise StateVersionError(f"saved thread state has version {version}, expected {STATE_VERSION}")
        state = cls(subject_window=int(meta[b"subject_window"]))
        state.max_arrived = float(meta[b"max_arrived"])
        state.messages = int(meta[b"messages"])
        state.key = nodes.column("key").to_pylist()
        state.parent = nodes.column("root").to_pylist()
        state.parts = nodes.column("participants").to_pylist()
        state.sender = nodes.column("from_address").to_pylist()
        state.sent = nodes.column("sent_at").to_pylist()
        state.arrived = nodes.column("arrived_at").to_pylist()
        state.earlier = nodes.column("earlier").to_pylist()
        mailbox_col = nodes.column("mailbox").combine_chunks()
        if not pa.types.is_dictionary(mailbox_col.type):
            mailbox_col = mailbox_col.dictionary_encode()
        keys = nodes.column("key")
        for code, mailbox in enumerate(mailbox_col.dictionary.to_pylist()):
            where = pc.indices_nonzero(pc.equal(mailbox_col.indices, code))
            state.ids[mailbox] = dict(zip(keys.take(where).to_pylist(), where.to_pylist(), strict=True))
            state.ses[mailbox], state.aliases[mailbox], state.subjects[mailbox] = {}, {}, {}
        clashes = tables["clashes"]
        for mailbox, message_id, owners in zip(
            clashes.column("mailbox").to_pylist(),
            clashes.column("message_id").to_pylist(),
            clashes.column("owners").to_pylist(),
            strict=True,
        ):
            state.clashes.setdefault(mailbox, {})[message_id] = owners
        for name, target in (("aliases", state.aliases), ("ses", state.ses), ("subjects", state.subjects)):
            table = tables[name]
            for mailbox, key, value in zip(*(table.column(k).to_pylist() for k in table.column_names), strict=True):
                target.setdefault(mailbox, {})[key] = value
        return state

    def save(self, folder: str | Path) -> None:
        """Write the state as Parquet files in `folder` (each written whole, then renamed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with no_cyclic_gc():
            tables = self.to_tables()
        for name, table in tables.items():
            tmp = folder / f".{name}.parquet.tmp"
            pq.write_table(table, tmp)
            tmp.replace(folder / f"{name}.parquet")

    @classmethod
    def load(cls, folder: str | Path) -> ThreadState:
        folder = Path(folder)
        return cls.from_tables({name: pq.read_table(folder / f"{name}.parquet") for name in STATE_TABLES})


STATE_TABLES = ("nodes", "subjects", "clashes", "aliases", "ses")


class StateVersionError(ValueError):
    """A saved state written under other rules (another `STATE_VERSION`): thread everything again instead."""


def _check_lengths(columns: ThreadColumns, n: int) -> None:
    """Every column must have one value per row (a column left empty is a caller's mistake)."""
    short = [f.name for f in fields(columns) if len(getattr(columns, f.name)) != n]
    if short:
        raise ValueError(f"ThreadColumns: {', '.join(short)} must have {n} values, one per row")


def _pairs_table(nested: dict[str, dict[str, object]], key: str, value: str, value_type: pa.DataType) -> pa.Table:
    """mailbox -> {key: value} as a three-column table."""
    rows = [(m, k, v) for m, pairs in nested.items() for k, v in pairs.items()]
    return pa.table(
        {
            "mailbox": pa.array([r[0] for r in rows], pa.string()),
            key: pa.array([r[1] for r in rows], pa.string()),
            value: pa.array([r[2] for r in rows], value_type),
        }
    )


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Threading builds millions of small acyclic objects (tuples, lists, ints); the cyclic collector
    would rescan all of them again and again without ever finding garbage, so it pauses meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _second(value: float | None) -> int | None:
    return None if value is None else int(value)


def _same_message(held_from: str | None, held_sent: float | None, sender: str | None, sent_at: float | None) -> bool:
    """Copies of one message share the sender and the Date (to the second)."""
    if _second(held_sent) != _second(sent_at):
        return False
    a, b = held_from or "", sender or ""
    return a == b or a.lower() == b.lower()


def _arrival_order(arrived: Sequence[float | None], row_keys: Sequence[str]) -> list[int]:
    """Row indexes by arrival time, ties (and rows without a time, first) by row key."""
    times = arrived if None not in arrived else [float("-inf") if t is None else t for t in arrived]
    order = sorted(range(len(times)), key=times.__getitem__)
    if len(set(times)) == len(times):
        return order  # no ties
    start = 0
    for k in range(1, len(order) + 1):
        if k == len(order) or times[order[k]] != times[order[start]]:
            if k - start > 1:
                order[start:k] = sorted(order[start:k], key=row_keys.__getitem__)
            start = k
    return order


def _pick_owner(owners: list[int], parts_of: list, mine: Sequence[str]) -> int:
    """Of the messages sharing a clashing id, the one whose participants overlap the referrer's."""
    for node in owners:
        theirs = parts_of[node]
        if theirs and any(x in theirs for x in mine):
            return node
    return owners[0]
