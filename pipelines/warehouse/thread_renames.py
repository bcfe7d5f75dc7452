"""Which messages a change of `thread_renames` reaches, for the warehouse refresh.

`messages.thread_id` is a message's thread id (`message_threads.thread_id`) read through every rename, so a
rename recorded today changes the current thread of messages of any day. A refresh notes the threads renamed
by the rows of the changed days, before and after they are replaced (`note_before`, `note_after`); the
messages to compute again are those whose thread reaches one of them through the renames (a rename row of
another thread is the same before and after, so the walk back from the renamed threads over today's renames
finds every message whose chain of renames went, or now goes, through a changed row).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import duckdb

from pipelines.warehouse.models import PARTITION_DAY

RENAMES = "thread_renames"
"""The staging table (and lake table) of thread renames."""
THREADS = "message_threads"
"""The staging table (and lake table) of the thread id each message was given."""


class RenamedThreads:
    """The threads and messages reached by the rename rows of `days`, in the temporary tables
    `renamed_threads` and `reached_rows` of `connection`; `table(name)` names a model's table."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, table: Callable[[str], str], days: set[date]) -> None:
        self.connection = connection
        self.table = table
        self.days = sorted(days)
        self.reached: int | None = None
        if self.days:
            connection.execute("create or replace temp table renamed_threads (thread_id varchar)")

    def note_before(self) -> None:
        """Note the threads renamed by the rows of the days, as the warehouse holds them before the refresh."""
        self._note()

    def note_after(self) -> None:
        """Note the threads renamed by the rows of the days once they are refreshed."""
        self._note()

    def _note(self) -> None:
        if not self.days:
            return
        listed = ", ".join(f"date '{day.isoformat()}'" for day in self.days)
        self.connection.execute(
            f"insert into renamed_threads select distinct old_thread_id from {self.table(RENAMES)} "
            f"where {PARTITION_DAY} in ({listed})"
        )

    def reached_rows_filter(self, alias: str) -> str | None:
        """SQL over the rows named `alias` (with `direction` and `object_key`): the message is one whose thread
        reaches a noted rename; None when there is none."""
        if not self.days:
            return None
        if self.reached is None:
            self.connection.execute(
                f"""create or replace temp table reached_rows as
                with recursive reached(thread_id) as (
                    select thread_id from renamed_threads
                    union
                    select r.old_thread_id from {self.table(RENAMES)} r join reached on r.thread_id = reached.thread_id
                )
                select distinct direction, object_key from {self.table(THREADS)}
                where thread_id in (select thread_id from reached)"""
            )
            self.reached = self.connection.execute("select count(*) from reached_rows").fetchone()[0]
        if not self.reached:
            return None
        return (
            f'exists (select 1 from reached_rows r where r.direction = "{alias}".direction '
            f'and r.object_key = "{alias}".object_key)'
        )
