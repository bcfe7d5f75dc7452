"""The threading state kept in one SQLite file, loaded by key and saved by writing what a run changed.

`ThreadState` (`pipelines.threads.engine`) holds every node, key, subject, clash, alias and SES id the
archive ever produced. Loading all of it for a day's mail costs in proportion to the archive, so this
store keeps it as keyed SQLite tables (standard library `sqlite3`, WAL) and `load` reads only what a batch
can reach (`engine.reachable_keys`): the nodes of its own ids, references, SES ids, Thread-Index GUIDs,
tracking addresses and clash keys, the SES ids its aliases name, the clash owners of those ids, the
messages of its subjects back to the first one outside the subject window, and the union-find parents of
all of them up to their roots. Those nodes are renumbered in their global order (the union-find keeps the
smaller node as root, so only their order matters) into a small `ThreadState`; new nodes take the next
global numbers. `save` writes new nodes and the loaded rows whose values changed, in one transaction.

Why SQLite and not Parquet segments per run: lookups by key need an index, and SQLite gives indexed
lookups, in-place updates of the few rows a run changes (a root moved by a join, a placeholder whose
message came), atomic commits and concurrent readers (the live path reads while a batch run writes)
without a compaction step. The file is local (`Settings.thread_state`); it is a cache of what the lake
says: when it is missing, unreadable, of another `STATE_VERSION` or of another lake, the next run threads
the lake from scratch (the same ids) and writes it whole again.

Tables: `meta` (name -> value: version, subject window, lake, log cursor, latest arrival, counters, next
node), `days` (messages threaded per partition day), `nodes` (node -> mailbox, key, union-find parent,
participants, sender, Date, arrival, earlier message of the same subject), `subjects`, `clashes`,
`aliases`, `ses` (as in `ThreadState`) and `renames` (old thread id -> the id that absorbed it).
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import orjson

from pipelines.threads.engine import (
    STATE_VERSION,
    SUBJECT_WINDOW,
    Reach,
    StateVersionError,
    ThreadState,
    no_cyclic_gc,
)
from pipelines.threads.identity import ses_wire_id

SCHEMA = """
create table meta (name text primary key, value text not null) without rowid;
create table days (day text primary key, threaded integer not null) without rowid;
create table nodes (
    node integer primary key, mailbox text not null, key text not null, parent integer not null,
    participants blob, from_address text, sent_at real, arrived_at real, earlier integer not null,
    hash integer not null
);
create table subjects (mailbox text, subject text, node integer not null, primary key (mailbox, subject))
    without rowid;
create table clashes (mailbox text, message_id text, owners blob not null, primary key (mailbox, message_id))
    without rowid;
create table aliases (mailbox text, message_id text, ses_message_id text not null,
    primary key (mailbox, message_id)) without rowid;
create table ses (mailbox text, ses_message_id text, node integer not null, primary key (mailbox, ses_message_id))
    without rowid;
create table renames (old_thread_id text primary key, thread_id text not null) without rowid;
"""
NODE_INDEX = "create index nodes_by_hash on nodes (hash)"
"""Nodes are found by a 32-bit hash of (mailbox, key) (`key_hash`; the key itself is compared after): an index
of integers is a fifth the size of one of the keys, so a day's lookups and inserts touch far fewer pages. Created
after a whole state is written (building an index once is cheaper than keeping it up row by row)."""
BUSY_TIMEOUT_SECONDS = 30.0
"""How long a writer waits for another one's write lock (readers never wait: WAL)."""
CACHE_KIB = 65536
"""SQLite's page cache per connection (64 MiB): a day's lookups touch pages all over the node index."""
MMAP_BYTES = 1 << 30
"""Up to 1 GiB of the file is read through memory mapping (no copy into the page cache)."""
SQL_VARIABLES = 900
"""Values bound in one `in (…)` list, under SQLite's limit."""
NODE_COLUMNS = "node, mailbox, key, parent, participants, from_address, sent_at, arrived_at, earlier"


class StateUnreadable(Exception):
    """The state file exists but is not a readable state (corrupt, truncated, another program's file)."""


@dataclass(frozen=True)
class StoreMeta:
    """What the state says of itself and of the lake it mirrors."""

    lake: str
    """The lake's URL: a state mirrors one lake."""
    cursor: str | None
    """The lake log cursor (`Lake.changes`) up to which every change to `messages` has been threaded."""
    latest_arrival: float
    """The latest arrival threaded: mail arriving before it means threading everything again."""
    subject_window: int = SUBJECT_WINDOW
    messages: int = 0
    max_arrived: float = 0.0
    next_node: int = 0


@dataclass
class PartialState:
    """A `ThreadState` holding only the loaded part of the saved state, and what `save` needs to write
    back only what changed: local node -> global node, and the rows as loaded."""

    state: ThreadState
    globals: list[int]
    """Local node -> global node, ascending (so the union-find order is the global one)."""
    next_node: int
    """The global number of the first node created after loading."""
    rows: list[tuple]
    """Per loaded node, as loaded: (parent, participants, from_address, sent_at, arrived_at, earlier,
    local earlier) with parent and earlier global."""
    subjects: dict[str, dict[str, int]] = field(default_factory=dict)
    clashes: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    ses: dict[str, dict[str, int]] = field(default_factory=dict)

    def global_node(self, local: int) -> int:
        k = len(self.globals)
        return self.globals[local] if local < k else self.next_node + local - k


class ThreadStateStore:
    """The state file: `meta`, `load` by key, `save` of what changed, `replace` with a whole state."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._connection: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ file
    def __enter__(self) -> ThreadStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
            try:
                connection.execute("pragma journal_mode=wal")
                connection.execute("pragma synchronous=normal")
                connection.execute("pragma temp_store=memory")
                connection.execute(f"pragma cache_size=-{CACHE_KIB}")
                connection.execute(f"pragma mmap_size={MMAP_BYTES}")
            except sqlite3.DatabaseError as exc:
                connection.close()
                raise StateUnreadable(f"thread state {self.path} is unreadable: {exc}") from exc
            self._connection = connection
        return self._connection

    def discard(self) -> None:
        """Remove the file (and SQLite's companions): what a state that cannot be read becomes."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def meta(self) -> StoreMeta | None:
        """The saved state's meta; None when there is no state. Raises `StateVersionError` for a state saved
        under other rules and `StateUnreadable` for a file that is not a state."""
        if not self.path.exists():
            return None
        try:
            tables = {row[0] for row in self.connection.execute("select name from sqlite_master where type='table'")}
            if "meta" not in tables:
                return None
            values = dict(self.connection.execute("select name, value from meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise StateUnreadable(f"thread state {self.path} is unreadable: {exc}") from exc
        if not values:
            return None
        version = int(values.get("version", "0"))
        if version != STATE_VERSION:
            raise StateVersionError(f"saved thread state has version {version}, expected {STATE_VERSION}")
        try:
            return StoreMeta(
                lake=values["lake"],
                cursor=values.get("cursor") or None,
                latest_arrival=float(values["latest_arrival"]),
                subject_window=int(values["subject_window"]),
                messages=int(values["messages"]),
                max_arrived=float(values["max_arrived"]),
                next_node=int(values["next_node"]),
            )
        except (KeyError, ValueError) as exc:
            raise StateUnreadable(f"thread state {self.path} has an unreadable meta: {exc!r}") from exc

    def day_counts(self, days: Iterable[date]) -> dict[date, int]:
        """Messages threaded per partition day, for these days (0 when none)."""
        wanted = sorted({d.isoformat() for d in days})
        counts = dict.fromkeys((date.fromisoformat(d) for d in wanted), 0)
        for day, threaded in self._select_in("select day, threaded from days where day in ({})", wanted):
            counts[date.fromisoformat(day)] = threaded
        return counts

    def current_thread_ids(self, thread_ids: Iterable[str]) -> dict[str, str]:
        """Each thread id through the renames since (itself when never renamed)."""
        wanted = set(thread_ids)
        renames: dict[str, str] = {}
        asked: set[str] = set()
        pending = wanted
        while pending:
            asked |= pending
            sql = "select old_thread_id, thread_id from renames where old_thread_id in ({})"
            found = dict(self._select_in(sql, sorted(pending)))
            renames.update(found)
            pending = set(found.values()) - asked
        current = {}
        for thread_id in wanted:
            seen = {thread_id}
            now = thread_id
            while now in renames and renames[now] not in seen:
                now = renames[now]
                seen.add(now)
            current[thread_id] = now
        return current

    # ------------------------------------------------------------------ partial load
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed state (a run saving meanwhile is seen after the block). A file that
        cannot be opened gives no snapshot: `meta` then reports it."""
        try:
            db = self.connection
            db.execute("begin")
        except (StateUnreadable, sqlite3.DatabaseError):
            yield
            return
        try:
            yield
        finally:
            db.execute("rollback")

    def load(self, reach: Mapping[str, Reach], meta: StoreMeta) -> PartialState:
        """The part of the saved state that threading rows with this reach can touch (see the module);
        inside a `snapshot` together with the `meta` it was given."""
        try:
            with no_cyclic_gc():
                return self._load(self.connection, reach, meta)
        except sqlite3.DatabaseError as exc:
            raise StateUnreadable(f"thread state {self.path} is unreadable: {exc}") from exc

    def _load(self, db: sqlite3.Connection, reach: Mapping[str, Reach], meta: StoreMeta) -> PartialState:
        aliases: dict[str, dict[str, str]] = {m: {} for m in reach}
        pairs = [(m, k) for m, r in reach.items() for k in r.alias_ids]
        (alias_rows,) = _join_pairs(db, pairs, ("aliases", "message_id", "ses_message_id"))
        for mailbox, message_id, ses in alias_rows:
            aliases[mailbox][message_id] = ses
        node_pairs = [(m, k) for m, r in reach.items() for k in r.node_keys]
        ses_pairs = [(m, k) for m, r in reach.items() for k in r.ses_ids]
        for mailbox, by_id in aliases.items():
            for ses in by_id.values():
                ses_pairs.append((mailbox, ses))
                node_pairs.append((mailbox, ses_wire_id(ses)))
        ses: dict[str, dict[str, int]] = {m: {} for m in reach}
        (ses_rows,) = _join_pairs(db, ses_pairs, ("ses", "ses_message_id", "node"))
        for mailbox, ses_id, node in ses_rows:
            ses[mailbox][ses_id] = node
        clashes: dict[str, dict[str, list[int]]] = {m: {} for m in reach}
        clash_rows, node_rows = _join_pairs(
            db, node_pairs, ("clashes", "message_id", "owners"), ("nodes", "key", "node")
        )
        for mailbox, message_id, owners in clash_rows:
            clashes[mailbox][message_id] = orjson.loads(owners)
        subjects: dict[str, dict[str, int]] = {m: {} for m in reach}
        subject_pairs = [(m, s) for m, r in reach.items() for s in r.subjects]
        (subject_rows,) = _join_pairs(db, subject_pairs, ("subjects", "subject", "node"))
        for mailbox, subject, node in subject_rows:
            subjects[mailbox][subject] = node

        wanted: set[int] = {node for _, _, node in node_rows}
        wanted.update(n for by_id in ses.values() for n in by_id.values())
        wanted.update(n for by_id in clashes.values() for owners in by_id.values() for n in owners)
        wanted.update(self._subject_chains(db, subjects, reach, meta.subject_window))
        rows = self._nodes_closed(db, wanted)

        order = sorted(rows)
        local = {g: i for i, g in enumerate(order)}
        state = ThreadState(subject_window=meta.subject_window)
        state.messages, state.max_arrived = meta.messages, meta.max_arrived
        for mailbox in reach:
            state.ids[mailbox], state.ses[mailbox], state.aliases[mailbox] = {}, {}, dict(aliases[mailbox])
            state.subjects[mailbox] = {s: local[n] for s, n in subjects[mailbox].items()}
            state.clashes[mailbox] = {k: [local[o] for o in owners] for k, owners in clashes[mailbox].items()}
            state.ses[mailbox] = {k: local[n] for k, n in ses[mailbox].items()}
        loaded_rows = []
        for g in order:
            mailbox, key, parent, parts, sender, sent, arrived, earlier = rows[g]
            parts_list = None if parts is None else orjson.loads(parts)
            earlier_local = local.get(earlier, -1)
            state.ids.setdefault(mailbox, {})[key] = len(state.parent)
            for target in (state.ses, state.aliases, state.subjects, state.clashes):
                target.setdefault(mailbox, {})
            state.parent.append(local[parent])
            state.key.append(key)
            state.parts.append(parts_list)
            state.sender.append(sender)
            state.sent.append(sent)
            state.arrived.append(arrived)
            state.earlier.append(earlier_local)
            loaded_rows.append((parent, parts_list, sender, sent, arrived, earlier, earlier_local))
        return PartialState(
            state=state,
            globals=order,
            next_node=meta.next_node,
            rows=loaded_rows,
            subjects={m: dict(v) for m, v in state.subjects.items()},
            clashes={m: {k: list(o) for k, o in v.items()} for m, v in state.clashes.items()},
            aliases={m: dict(v) for m, v in state.aliases.items()},
            ses={m: dict(v) for m, v in state.ses.items()},
        )

    @staticmethod
    def _subject_chains(
        db: sqlite3.Connection, subjects: dict[str, dict[str, int]], reach: Mapping[str, Reach], window: int
    ) -> set[int]:
        """The messages the subject rule may walk: from each subject's latest message back along `earlier`
        to the first one that arrived more than `window` before the mailbox's earliest new row (where the
        rule stops)."""
        heads = []
        for mailbox, by_subject in subjects.items():
            earliest = reach[mailbox].earliest
            if earliest is not None:
                heads.extend((node, earliest - window) for node in by_subject.values())
        if not heads:
            return set()
        db.execute("create temp table if not exists chain_heads (node integer, bound real)")
        db.execute("delete from chain_heads")
        db.executemany("insert into chain_heads values (?, ?)", heads)
        rows = db.execute(
            "with recursive chain(node, arrived, earlier, bound) as ("
            " select n.node, n.arrived_at, n.earlier, h.bound from chain_heads h join nodes n on n.node = h.node"
            " union select n.node, n.arrived_at, n.earlier, c.bound from chain c join nodes n on n.node = c.earlier"
            " where c.arrived >= c.bound) select distinct node from chain"
        ).fetchall()
        return {node for (node,) in rows}

    @staticmethod
    def _nodes_closed(db: sqlite3.Connection, wanted: set[int]) -> dict[int, tuple]:
        """The rows of `wanted` nodes and of their union-find parents, up to the roots."""
        rows: dict[int, tuple] = {}
        pending = wanted
        while pending:
            fetched = _fetch_nodes(db, pending)
            rows.update(fetched)
            pending = {row[2] for row in fetched.values()} - rows.keys()
        return rows

    # ------------------------------------------------------------------ writes
    def save(
        self,
        partial: PartialState,
        meta: StoreMeta,
        day_counts: Mapping[date, int],
        renames: Mapping[str, str],
    ) -> None:
        """Write what threading changed in a partially loaded state (new nodes; loaded rows that changed;
        the subject, clash, alias and SES entries it set), the per-day counts, the renames and `meta`, in
        one transaction."""
        with no_cyclic_gc():
            self._save(partial, meta, day_counts, renames)

    def _save(
        self, partial: PartialState, meta: StoreMeta, day_counts: Mapping[date, int], renames: Mapping[str, str]
    ) -> None:
        state, rows, g = partial.state, partial.rows, partial.global_node
        k = len(partial.globals)
        mailbox_of = _node_mailboxes(state, len(state.parent))
        inserts, updates = [], []
        for i in range(len(state.parent)):
            parent = g(state.root(i))
            parts, sender, sent, arrived, earlier = (
                state.parts[i], state.sender[i], state.sent[i], state.arrived[i], state.earlier[i],
            )  # fmt: skip
            if i >= k:
                mailbox, key = mailbox_of[i], state.key[i]
                inserts.append((g(i), mailbox, key, parent, _parts_blob(parts), sender, sent, arrived,
                                g(earlier) if earlier >= 0 else -1, key_hash(mailbox, key)))  # fmt: skip
                continue
            old_parent, old_parts, old_sender, old_sent, old_arrived, old_earlier, old_earlier_local = rows[i]
            earlier_global = old_earlier if earlier == old_earlier_local else (g(earlier) if earlier >= 0 else -1)
            parts_list = None if parts is None else list(parts)
            if (parent, parts_list, sender, sent, arrived, earlier_global) != (
                old_parent, old_parts, old_sender, old_sent, old_arrived, old_earlier,
            ):  # fmt: skip
                updates.append((parent, _parts_blob(parts), sender, sent, arrived, earlier_global, g(i)))
        db = self.connection
        db.execute("begin immediate")
        try:
            db.executemany(f"insert into nodes ({NODE_COLUMNS}, hash) values (?,?,?,?,?,?,?,?,?,?)", inserts)
            db.executemany(
                "update nodes set parent=?, participants=?, from_address=?, sent_at=?, arrived_at=?, earlier=? "
                "where node=?",
                updates,
            )
            self._write_maps(db, partial, g)
            db.executemany(
                "insert or replace into days values (?, ?)", [(d.isoformat(), n) for d, n in day_counts.items()]
            )
            db.executemany("insert or replace into renames values (?, ?)", sorted(renames.items()))
            next_node = partial.next_node + len(state.parent) - k
            _write_meta(db, meta, state, next_node)
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise

    @staticmethod
    def _write_maps(db: sqlite3.Connection, partial: PartialState, to_global: Callable[[int], int]) -> None:
        """The subject, clash, alias and SES entries that differ from what was loaded."""
        state = partial.state
        subjects = [(m, s, to_global(n)) for m, by in state.subjects.items() for s, n in by.items()
                    if partial.subjects.get(m, {}).get(s) != n]  # fmt: skip
        db.executemany("insert or replace into subjects values (?, ?, ?)", subjects)
        clashes = [(m, k, orjson.dumps([to_global(o) for o in owners])) for m, by in state.clashes.items()
                   for k, owners in by.items() if partial.clashes.get(m, {}).get(k) != owners]  # fmt: skip
        db.executemany("insert or replace into clashes values (?, ?, ?)", clashes)
        aliases = [(m, k, v) for m, by in state.aliases.items() for k, v in by.items()
                   if partial.aliases.get(m, {}).get(k) != v]  # fmt: skip
        db.executemany("insert or replace into aliases values (?, ?, ?)", aliases)
        ses = [(m, k, to_global(n)) for m, by in state.ses.items() for k, n in by.items()
               if partial.ses.get(m, {}).get(k) != n]  # fmt: skip
        db.executemany("insert or replace into ses values (?, ?, ?)", ses)

    def replace(
        self, state: ThreadState, meta: StoreMeta, day_counts: Mapping[date, int], renames: Mapping[str, str]
    ) -> None:
        """Make a whole state (threaded from scratch) the saved one, in one transaction: a reader keeps seeing
        the old state until it commits. A file that cannot be read is removed first."""
        with no_cyclic_gc():
            self._replace(state, meta, day_counts, renames)

    def _replace(
        self, state: ThreadState, meta: StoreMeta, day_counts: Mapping[date, int], renames: Mapping[str, str]
    ) -> None:
        try:
            db = self.connection
            db.execute("begin immediate")
        except (sqlite3.DatabaseError, StateUnreadable):
            self.discard()
            db = self.connection
            db.execute("begin immediate")
        try:
            for (name,) in db.execute("select name from sqlite_master where type='table'").fetchall():
                db.execute(f'drop table "{name}"')
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            n = len(state.parent)
            mailbox_of = _node_mailboxes(state, n)
            root = state.root
            db.executemany(
                f"insert into nodes ({NODE_COLUMNS}, hash) values (?,?,?,?,?,?,?,?,?,?)",
                zip(
                    range(n),
                    mailbox_of,
                    state.key,
                    (root(x) for x in range(n)),
                    (_parts_blob(p) for p in state.parts),
                    state.sender,
                    state.sent,
                    state.arrived,
                    state.earlier,
                    (key_hash(m, k) for m, k in zip(mailbox_of, state.key, strict=True)),
                    strict=True,
                ),
            )
            db.execute(NODE_INDEX)
            db.executemany("insert into subjects values (?, ?, ?)", _triples(state.subjects))
            db.executemany(
                "insert into clashes values (?, ?, ?)",
                ((m, k, orjson.dumps(owners)) for m, by in state.clashes.items() for k, owners in by.items()),
            )
            db.executemany("insert into aliases values (?, ?, ?)", _triples(state.aliases))
            db.executemany("insert into ses values (?, ?, ?)", _triples(state.ses))
            db.executemany("insert into days values (?, ?)", [(d.isoformat(), c) for d, c in day_counts.items()])
            db.executemany("insert into renames values (?, ?)", sorted(renames.items()))
            _write_meta(db, meta, state, n)
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise
        db.execute("pragma wal_checkpoint(truncate)")

    def _select_in(self, sql: str, values: list) -> Iterator[tuple]:
        """Rows of `sql` (with one `in ({})`) for `values`, in chunks under SQLite's variable limit."""
        for start in range(0, len(values), SQL_VARIABLES):
            chunk = values[start : start + SQL_VARIABLES]
            try:
                rows = self.connection.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StateUnreadable(f"thread state {self.path} is unreadable: {exc}") from exc
            yield from rows


def _write_meta(db: sqlite3.Connection, meta: StoreMeta, state: ThreadState, next_node: int) -> None:
    values = {
        "version": STATE_VERSION,
        "lake": meta.lake,
        "cursor": meta.cursor or "",
        "latest_arrival": repr(meta.latest_arrival),
        "subject_window": state.subject_window,
        "messages": state.messages,
        "max_arrived": repr(state.max_arrived),
        "next_node": next_node,
    }
    db.executemany("insert or replace into meta values (?, ?)", [(k, str(v)) for k, v in values.items()])


def key_hash(mailbox: str, key: str) -> int:
    """The 32-bit hash nodes are indexed by (CRC-32 of the mailbox and the key)."""
    return zlib.crc32(f"{mailbox}\x1f{key}".encode())


def _parts_blob(parts: Sequence[str] | None) -> bytes | None:
    """Participants as stored: a JSON list (None for placeholders and soft keys)."""
    return None if parts is None else orjson.dumps(list(parts))


def _triples(nested: dict[str, dict]) -> Iterator[tuple]:
    for mailbox, pairs in nested.items():
        for key, value in pairs.items():
            yield mailbox, key, value


def _node_mailboxes(state: ThreadState, n: int) -> list[str]:
    """Per node of `state`, its mailbox (every node has a key in one mailbox's `ids`)."""
    mailboxes = [""] * n
    for mailbox, ids in state.ids.items():
        for node in ids.values():
            mailboxes[node] = mailbox
    return mailboxes


def _join_pairs(db: sqlite3.Connection, pairs: list[tuple[str, str]], *targets: tuple[str, str, str]) -> list[list]:
    """Per target `(table, key column, value column)`, the rows (mailbox, key, value) of the table for these
    (mailbox, key) pairs, which go into a temporary table once for all targets."""
    if not pairs:
        return [[] for _ in targets]
    db.execute("create temp table if not exists wanted_pairs (hash integer, mailbox text, key text)")
    db.execute("delete from wanted_pairs")
    # in hash order, so the probes walk the node index from one end to the other instead of at random
    db.executemany("insert into wanted_pairs values (?, ?, ?)", sorted((key_hash(m, k), m, k) for m, k in set(pairs)))
    found = []
    for table, key, value in targets:
        by_hash = "t.hash = w.hash and " if table == "nodes" else ""
        found.append(
            db.execute(
                f"select t.mailbox, t.{key}, t.{value} from wanted_pairs w join {table} t "
                f"on {by_hash}t.mailbox = w.mailbox and t.{key} = w.key"
            ).fetchall()
        )
    return found


def _fetch_nodes(db: sqlite3.Connection, nodes: set[int]) -> dict[int, tuple]:
    """node -> (mailbox, key, parent, participants, from_address, sent_at, arrived_at, earlier)."""
    db.execute("create temp table if not exists wanted_nodes (node integer primary key)")
    db.execute("delete from wanted_nodes")
    db.executemany("insert or ignore into wanted_nodes values (?)", ((n,) for n in sorted(nodes)))
    found = db.execute(f"select {', '.join('n.' + c.strip() for c in NODE_COLUMNS.split(','))} "
                       "from wanted_nodes w join nodes n on n.node = w.node").fetchall()  # fmt: skip
    return {row[0]: row[1:] for row in found}
