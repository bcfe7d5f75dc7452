"""The hand-off ledger in PostgreSQL, for a `postgresql://` location (`pipelines.handoff.ledger` has the logic).

The tables are created when missing, in the connection's schema (the first of its `search_path`), under an
advisory lock so that processes opening a new ledger together do not collide. Outside a write transaction
the connection autocommits, so a read sees every committed state. A write transaction (read committed)
locks the row it reads before changing it (`FOR UPDATE`); `due` with a lease takes only rows no other
transaction holds (`FOR UPDATE SKIP LOCKED`), so two workers leasing at once get disjoint records. Connecting,
and waiting for a lock (`lock_timeout`), each take at most `busy_timeout` seconds, then the call fails.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

SCHEMA_LOCK = 0x5E51A4E
"""Key of the advisory lock held while creating the tables."""


class PostgresDatabase:
    """One connection to the ledger database at `url`, its tables (`schema`) created when missing.

    Statements come with `?` placeholders (as SQLite takes them); they are rewritten to psycopg's `%s`, so a
    statement must not hold a literal `?` or `%`."""

    kind = "postgresql"
    lock_row = " for update"
    lock_free_rows = " for update skip locked"

    def __init__(self, url: str, schema: str, busy_timeout: float) -> None:
        self.url = url
        self._db = psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(busy_timeout)))
        try:
            self._db.execute(f"set lock_timeout = {int(busy_timeout * 1000)}")
            with self.transaction():
                self._db.execute("select pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                for statement in schema.format(text='text collate "C"', bytes="bytea").split(";"):
                    if statement.strip():
                        self._db.execute(statement)
        except BaseException:
            self._db.close()
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self._db.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; committed on leaving, rolled back on an exception."""
        with self._db.transaction():
            yield

    def close(self) -> None:
        self._db.close()
