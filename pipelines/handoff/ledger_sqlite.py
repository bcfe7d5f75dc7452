"""The hand-off ledger in a SQLite file, the embedded default (`pipelines.handoff.ledger` has the logic).

The file is created with its folder when missing, readable by its owner only (payloads hold mail). WAL mode
with `synchronous=FULL` makes each commit durable. A write transaction takes SQLite's write lock up front
(`BEGIN IMMEDIATE`), waiting up to `busy_timeout` seconds for it, so it runs alone: rows it reads cannot
change before it commits, and no row lock is needed.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class SqliteDatabase:
    """One connection to the ledger file at `path`, its tables (`schema`) created when missing."""

    kind = "sqlite"
    lock_row = ""
    lock_free_rows = ""

    def __init__(self, path: Path, schema: str, busy_timeout: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # payloads hold mail: owner only
        self.path = path
        self._db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("pragma synchronous=full")
        with self.transaction():
            for statement in schema.format(text="text", bytes="blob").split(";"):
                if statement.strip():
                    self._db.execute(statement)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, holding the write lock from its start; committed on leaving."""
        self._db.execute("begin immediate")
        try:
            yield
        except BaseException:
            self._db.execute("rollback")
            raise
        self._db.execute("commit")

    def close(self) -> None:
        self._db.close()
