"""Refreshing the warehouse for what changed in the lake since it was built, or rebuilding it whole.

`refresh_warehouse` reads the build state inside the published file (`pipelines.warehouse.state`) and
rebuilds whole (`build_warehouse`) when asked to, when the file or its state is missing, when it was built
from another lake, under other models, tenants, prices or refresh rules, or when the lake's log no longer
holds its cursor. Otherwise it asks the lake's log what changed since the cursor (`Lake.changes`): nothing
means nothing to do (no file is copied or read). Else it copies the published file to a fresh building
file and, following each model's `Incremental:` declaration (`pipelines.warehouse.models`):

1. day-keyed staging models delete the rows of the days that changed in their sources and insert them again
   from those days' Parquet files only (an S3 lake's files come from the mirror, `pipelines.warehouse.mirror`,
   which downloads only what changed);
2. messages whose thread reaches a changed rename get their thread id again
   (`pipelines.warehouse.thread_renames`), computed by the messages model from the rows the file holds;
3. incremental marts delete the keys the changed rows of their inputs gave before and give after the change
   and insert them again from the rows of those keys alone; the other marts are rebuilt from the tables in
   the file;

then records the new cursor and renames the building file over the published one, like a full build. The
result has the same tables, rows and comments as a full rebuild of the same lake (tests compare them).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import duckdb

from pipelines.storage.lake import Lake
from pipelines.tenants import TenantRegistry
from pipelines.warehouse.audits import run_audits
from pipelines.warehouse.build import (
    INCREMENTAL,
    UNCHANGED,
    WarehouseBuild,
    build_state,
    build_warehouse,
    building_path,
    create_model,
    describe,
    finish,
    publishing,
)
from pipelines.warehouse.mirror import LakeFiles, mirror_folder
from pipelines.warehouse.models import LAKE_TABLES, PARTITION_DAY, WHOLE, Model, load_models, model_order
from pipelines.warehouse.sources import attach_sources, point_source, point_source_at, source_columns
from pipelines.warehouse.state import BuildState, read_state, write_state
from pipelines.warehouse.thread_renames import RENAMES, RenamedThreads

DAYS_TABLE = "refresh_days"
"""Temporary table of the days a staging model refreshes."""


def refresh_warehouse(
    lake: Lake,
    registry: TenantRegistry,
    target: Path,
    *,
    full_rebuild: bool = False,
    models: list[Model] | None = None,
) -> WarehouseBuild:
    """Bring the warehouse at `target` up to date with `lake` and `registry`: incrementally when it can,
    else by a full rebuild (see the module docstring)."""
    started = time.perf_counter()
    models = model_order(load_models() if models is None else models)
    target = Path(target)
    lake.recover()
    wanted = build_state(lake, registry, models, None, INCREMENTAL)
    state = read_state(target)
    reason = full_rebuild_reason(lake, state, wanted, full_rebuild)
    if reason:
        return build_warehouse(lake, registry, target, models, reason=reason)
    assert state is not None
    changes, cursor = lake.changes(state.cursor)
    changed = {table: set().union(*(c.days(table) for c in changes)) for table in LAKE_TABLES}
    changed = {table: days for table, days in changed.items() if days}
    result = WarehouseBuild(path=target, mode=INCREMENTAL)
    result.changed_days = {table: sorted(d.isoformat() for d in days) for table, days in sorted(changed.items())}
    if not changed:
        result.mode = UNCHANGED
        with duckdb.connect(str(target), read_only=True) as connection:
            describe(connection, models, result)
            result.audits = run_audits(connection, raise_on_blocking=False)
            result.built_at = state.built_at
        result.seconds = time.perf_counter() - started
        return result

    copy_started = time.perf_counter()
    shutil.copyfile(target, building_path(target))
    result.copy_seconds = time.perf_counter() - copy_started
    files = LakeFiles(lake, mirror_folder(target))
    with publishing(target) as connection:
        attach_sources(connection, registry)
        refresher = _Refresher(connection, files, changed, {key for c in changes for key in c.files}, models)
        refresher.run()
        write_state(connection, replace(wanted, cursor=cursor))
        result.models = refresher.refreshed
        result.files_read = len(refresher.files_read)
        finish(connection, models, result)
    result.files_downloaded = files.downloaded
    result.seconds = time.perf_counter() - started
    return result


def full_rebuild_reason(lake: Lake, state: BuildState | None, wanted: BuildState, requested: bool) -> str:
    """Why the warehouse must be rebuilt whole rather than refreshed; '' when it can be refreshed."""
    if requested:
        return "requested"
    if state is None:
        return "no warehouse file with a build state"
    for what, ours, theirs in (
        ("lake", state.lake, wanted.lake),
        ("models", state.models_fingerprint, wanted.models_fingerprint),
        ("tenants or prices", state.references_fingerprint, wanted.references_fingerprint),
        ("refresh rules", state.version, wanted.version),
    ):
        if ours != theirs:
            return f"built from other {what}"
    if state.cursor is None:
        return "the cursor in the lake's log is unknown"
    if lake.store.info(state.cursor) is None:
        return f"the lake's log no longer holds the cursor {state.cursor}"
    return ""


@dataclass
class _Refresher:
    """One incremental refresh of the building file (see the module docstring)."""

    connection: duckdb.DuckDBPyConnection
    files: LakeFiles
    changed: dict[str, set[date]]
    changed_keys: set[str]
    models: list[Model]
    files_read: set[Path] = field(default_factory=set)
    refreshed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        database = self.connection.execute("select current_database()").fetchone()[0]
        self.catalog = '"' + database.replace('"', '""') + '"'
        self.marts = [m for m in self.models if m.layer == "mart" and m.incremental is not None]

    def table(self, name: str) -> str:
        """The model table `name` in the building file, past any temporary view of that name."""
        return f'{self.catalog}.main."{name}"'

    def run(self) -> None:
        for mart in self.marts:
            self.connection.execute(
                f'create temp table "keys_{mart.name}" as select "{mart.incremental.key}" as key_value '
                f"from {self.table(mart.name)} limit 0"
            )
        staging = [m for m in self.models if m.layer == "staging" and m.incremental is not None]
        # a model reading a staging table whole reads it once it is refreshed
        staging.sort(key=lambda m: bool(m.incremental.whole))
        renamed = RenamedThreads(self.connection, self.table, self.changed.get(RENAMES, set()))
        for model in staging:
            if model.name == RENAMES:
                renamed.note_before()
            self.refresh_days(model)
            if model.name == RENAMES:
                renamed.note_after()
        for model in staging:
            if RENAMES in model.incremental.whole:
                self.follow_renames(model, renamed)
        for model in self.models:
            if model.layer == "mart":
                self.refresh_mart(model)

    def refresh_days(self, model: Model) -> None:
        """Replace the model's rows of the days that changed in its sources."""
        incremental = model.incremental
        days = set().union(*(self.changed.get(t, set()) for t, e in incremental.inputs if e != WHOLE))
        if not days:
            return
        self.connection.execute(f"create or replace temp table {DAYS_TABLE} (day date)")
        self.connection.executemany(f"insert into {DAYS_TABLE} values (?)", [[day] for day in sorted(days)])
        where = f"{PARTITION_DAY} in (select day from {DAYS_TABLE})"
        for table, expression in incremental.inputs:
            if expression == WHOLE:
                point_source_at(self.connection, table, f"select {self.columns(table)} from {self.table(table)}")
            else:
                paths = self.files.day_files(table, days, self.changed_keys)
                point_source(self.connection, table, paths)
                self.files_read.update(paths)
        self.replace_rows(model, where, model.sql)

    def follow_renames(self, model: Model, renamed: RenamedThreads) -> None:
        """Compute again the rows of `model` whose thread reaches a changed rename, from the rows the file
        holds (its source columns are copies of its sources')."""
        where = renamed.reached_rows_filter(model.name)
        if where is None:
            return
        for table, expression in model.incremental.inputs:
            rows = self.table(table)
            if expression != WHOLE:
                rows = f'(select * from {rows} as "{table}" where {renamed.reached_rows_filter(table)})'
            point_source_at(self.connection, table, f"select {self.columns(table)} from {rows}")
        self.replace_rows(model, where, model.sql)

    def replace_rows(self, model: Model, where: str, select: str) -> None:
        """Delete the model's rows matching `where` and insert the rows of `select` (which may read them),
        noting the keys the rows give incremental marts before and after."""
        self.note_keys(model.name, where)
        self.connection.execute(f"create or replace temp table refresh_rows as select * from ({select})")
        self.connection.execute(f'delete from {self.table(model.name)} as "{model.name}" where {where}')
        self.connection.execute(f"insert into {self.table(model.name)} select * from refresh_rows")
        self.connection.execute("drop table refresh_rows")
        self.note_keys(model.name, where)
        if model.name not in self.refreshed:
            self.refreshed.append(model.name)

    def note_keys(self, table: str, where: str) -> None:
        """Add to each incremental mart reading `table` the keys its rows matching `where` give."""
        for mart in self.marts:
            expression = dict(mart.incremental.inputs).get(table)
            if expression not in (None, WHOLE):
                self.connection.execute(
                    f'insert into "keys_{mart.name}" select distinct {expression} '
                    f'from {self.table(table)} as "{table}" where {where}'
                )

    def refresh_mart(self, model: Model) -> None:
        """An incremental mart: replace the rows of the noted keys, computed from the inputs' rows of those
        keys; another mart: rebuild it from the tables in the file."""
        if model.incremental is None:
            self.connection.execute(f"drop table {self.table(model.name)}")
            create_model(self.connection, model)
            self.refreshed.append(model.name)
            return
        keys = f'"keys_{model.name}"'
        if self.connection.execute(f"select count(*) from {keys}").fetchone()[0] == 0:
            return
        keyed = [(table, expression) for table, expression in model.incremental.inputs if expression != WHOLE]
        for table, expression in keyed:
            self.connection.execute(
                f'create temp view "{table}" as select * from {self.table(table)} where {_among_keys(expression, keys)}'
            )
        try:
            self.replace_rows(model, _among_keys(f'"{model.name}"."{model.incremental.key}"', keys), model.sql)
        finally:
            for table, _ in keyed:
                self.connection.execute(f'drop view temp.main."{table}"')

    def columns(self, table: str) -> str:
        return ", ".join(f'"{column}"' for column in source_columns(table))


def _among_keys(expression: str, keys: str) -> str:
    """SQL: `expression` is one of the values in the table `keys` (null included, when noted)."""
    return (
        f"(({expression}) in (select key_value from {keys}) "
        f"or (({expression}) is null and exists (select 1 from {keys} where key_value is null)))"
    )
