"""The warehouse's models: one documented SELECT per file under `sql/staging/` and `sql/marts/`.

A model file is a header comment, then one select statement (the runner creates the table from it):

    -- One row per tenant × UTC day: mail volumes, delivery outcomes and engagement.
    -- A blank comment line starts a new paragraph.
    --
    -- Columns:
    --   tenant_id: The tenant.
    --   day: The UTC day; a description goes on
    --     over lines indented further than the column names.
    select ...

The header is the file's leading run of `--` lines (a blank line ends it). The file's name is the
table's name and its folder the layer. `staging/` models read the sources, the tables of the `source`
catalog the build attaches (the lake's tables and the reference tables of SOURCES), and give the
analyst-facing base tables; `marts/` models read models only, never a source. A model depends on the
tables its select reads, found in DuckDB's own parse tree of the statement (`json_serialize_sql`): a
name in a comment or a string literal, or the name of a CTE, is not a read.

A model may say how a refresh updates its table instead of rebuilding it, in an `Incremental:` line of
the header (before `Columns:`; it is not part of the description):

    -- Incremental: day
    --   messages: cast(received_at as date)
    --   events: cast(event_at as date)

The table's rows with one value of the key column (`day`) come only from the rows of its inputs for which
the input's expression gives that value, so a refresh deletes the keys that changed rows of its inputs give
(before and after the change) and inserts them again from the rows of those keys alone. A mart names an
expression for every model it reads, each a day-keyed staging model. A staging model's key is the lake
partition day `date` and every source is read for the changed days only (`-- Incremental: date`), except a
source listed as `whole` (`--   thread_renames: whole`), which is read entire from the warehouse's own
staging copy; the one such source is `thread_renames` (rows of other days change when threads are renamed:
the refresh recomputes the messages whose thread reaches a changed rename). A model without the line is
rebuilt whole from the tables in the file on every refresh (a mart), or only in a full rebuild (the
reference tables such as `tenants` and `pricing`, whose content is part of the build's fingerprint). An
incremental mart may read such a reference table whole (`--   mailbox_providers: whole`).

The files ship inside the package as `pipelines.warehouse.sql` (the repository's top-level `sql/`
folder, mapped by setuptools' `package-dir`), so they are read through `importlib.resources` the same way
from a checkout and from an installed wheel.
"""

from __future__ import annotations

import graphlib
import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb

from pipelines.storage.schemas import PARTITION_COLUMNS, SCHEMAS

SQL_PACKAGE = "pipelines.warehouse.sql"
"""The package holding the model files: the repository's `sql/` folder."""
LAYERS = {"staging": "staging", "marts": "mart"}
"""Folder → layer, in build order: every staging model is built before any mart."""
SOURCE_CATALOG = "source"
"""Where models find the sources: `select … from source.events`."""
LAKE_TABLES = tuple(SCHEMAS)
"""The lake's tables, every one of them a source."""
SOURCES: dict[str, str] = {
    "messages": "Lake table `messages`: one row per parsed message, inbound and outbound.",
    "recipients": "Lake table `recipients`: one row per message × address × role.",
    "attachments": "Lake table `attachments`: one row per attachment of a message.",
    "quarantine": "Lake table `quarantine`: one row per object (or event line) that could not be used.",
    "events": "Lake table `events`: one row per SES event × affected recipient.",
    "message_threads": "Lake table `message_threads`: the thread each message was given when it was threaded.",
    "thread_renames": "Lake table `thread_renames`: threads joined into an older one by later mail.",
    "tenants": "The tenant registry (`tenants.yaml`): one row per tenant.",
    "pricing": "SES prices from `pipelines/warehouse/pricing.py`: one row.",
    "mailbox_providers": "Recipient domain → mailbox provider, from `pipelines/warehouse/providers.py`.",
    "reputation_thresholds": "SES's review and pause levels from `pipelines/warehouse/thresholds.py`: one row.",
}
"""Every source a staging model may read, with what it is; the lake's tables are LAKE_TABLES."""

PARTITION_DAY = PARTITION_COLUMNS[1].name
"""The lake's partition day column (`date`): the key of every day-keyed staging model."""
WHOLE = "whole"
"""An `Incremental:` input read entire instead of for the changed days."""
FOLLOWED_WHOLE_INPUTS = ("thread_renames",)
"""The sources a day-keyed staging model may read whole: the refresh knows which rows their changes reach."""
INCREMENTAL_HEADING = "Incremental:"

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_COLUMN_RE = re.compile(r"^(?P<indent> +)(?P<name>[A-Za-z_][A-Za-z0-9_]*): +(?P<text>\S.*)$")
_COLUMNS_HEADING = "Columns:"


@dataclass(frozen=True)
class Column:
    """One documented column of a model's table."""

    name: str
    description: str


@dataclass(frozen=True)
class Incremental:
    """How a refresh updates a model's table: by deleting and inserting again the rows of changed keys."""

    key: str
    """The table's column whose values a refresh replaces (`date` for staging models)."""
    inputs: tuple[tuple[str, str], ...]
    """Every table the model reads, with the expression over that table's rows giving the key value they
    feed (WHOLE: read entire), sorted by table."""

    def expression(self, table: str) -> str:
        """The key expression over the rows of the input `table`."""
        return dict(self.inputs)[table]

    @property
    def whole(self) -> tuple[str, ...]:
        """The inputs read entire."""
        return tuple(table for table, expression in self.inputs if expression == WHOLE)


@dataclass(frozen=True)
class Model:
    """One model file: a table of the warehouse, its documentation, its select and what it reads."""

    name: str
    """The table's name: the file's name without `.sql`."""
    layer: str
    """`staging` or `mart`."""
    description: str
    """The header's text before `Columns:`; paragraphs are separated by a blank line."""
    columns: tuple[Column, ...]
    """The table's columns in order, as documented."""
    sql: str
    """The select statement, without the header."""
    depends_on: tuple[str, ...]
    """The models the select reads, sorted."""
    sources: tuple[str, ...]
    """The sources (SOURCES) the select reads, sorted."""
    path: str
    """The file, relative to `sql/` (e.g. `marts/tenant_daily.sql`)."""
    incremental: Incremental | None = None
    """How a refresh updates the table; None: it is rebuilt (see the module docstring)."""


def sql_root() -> Traversable:
    """The installed `sql/` folder: the checkout's in an editable install, the package's copy in a wheel."""
    try:
        return resources.files(SQL_PACKAGE)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"the warehouse models (package {SQL_PACKAGE}, the repository's sql/ folder) are not installed: "
            "reinstall seslake (`pip install -e .` in a checkout)"
        ) from exc


def load_models(root: Traversable | Path | None = None) -> list[Model]:
    """Every model under `root` (default: the installed `sql/`), checked and in build order.

    Raises ValueError naming the file for a model that is not documented or not one select, that reads
    a table which is neither a model nor a source, or that crosses the layers (a staging model reading
    a mart, a mart reading a source); and naming the models of a dependency cycle."""
    root = sql_root() if root is None else root
    files: list[tuple[str, str, str]] = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_file() and entry.name.endswith(".sql"):
            raise ValueError(f"{entry.name}: a model lives in one of {', '.join(f'{f}/' for f in LAYERS)}")
        if not entry.is_dir():
            continue
        found = [f for f in sorted(entry.iterdir(), key=lambda e: e.name) if f.is_file() and f.name.endswith(".sql")]
        if found and entry.name not in LAYERS:
            raise ValueError(
                f"{entry.name}/: not a layer; a model lives in one of {', '.join(f'{f}/' for f in LAYERS)}"
            )
        files += [(f"{entry.name}/{f.name}", LAYERS[entry.name], f.read_text(encoding="utf-8")) for f in found]
    with duckdb.connect() as connection:
        models = [parse_model(path, layer, text, connection) for path, layer, text in files]
    _check(models)
    return model_order(models)


def parse_model(path: str, layer: str, text: str, connection: duckdb.DuckDBPyConnection | None = None) -> Model:
    """The model in `text`, the file at `path` (relative to `sql/`, which names the model)."""
    name = path.rsplit("/", 1)[-1].removesuffix(".sql")
    if not _NAME_RE.match(name):
        raise ValueError(f"{path}: a model's file name is its table's name: lower-case letters, digits and _")
    lines = text.splitlines()
    header: list[str] = []
    while lines and lines[0].startswith("--"):
        header.append(lines.pop(0)[2:].removeprefix(" ").rstrip())
    header, declared = _parse_incremental(path, header)
    description, columns = _parse_header(path, header)
    sql = "\n".join(lines).strip()
    if sql.endswith(";"):
        sql = sql[:-1].rstrip()
    try:
        read = table_references(sql, connection)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    depends_on, sources = set(), set()
    for reference in read:
        schema, _, table = reference.rpartition(".")
        if schema == SOURCE_CATALOG:
            sources.add(table)
        elif schema in ("", "main"):
            depends_on.add(table)
        else:
            raise ValueError(f"{path}: reads {reference}, which is neither a model nor a source")
    incremental = None
    if declared is not None:
        key, expressions = declared
        reads = sources if layer == "staging" else depends_on
        unknown = sorted(set(expressions) - reads)
        if unknown:
            raise ValueError(f"{path}: {INCREMENTAL_HEADING} names {', '.join(unknown)}, which the model does not read")
        default = PARTITION_DAY if layer == "staging" else ""
        inputs = tuple(sorted((table, expressions.get(table, default)) for table in reads))
        incremental = Incremental(key=key, inputs=inputs)
    return Model(
        name=name,
        layer=layer,
        description=description,
        columns=columns,
        sql=sql,
        depends_on=tuple(sorted(depends_on)),
        sources=tuple(sorted(sources)),
        path=path,
        incremental=incremental,
    )


def _parse_incremental(path: str, header: list[str]) -> tuple[list[str], tuple[str, dict[str, str]] | None]:
    """The header without its `Incremental:` block, and the block's key column and input expressions."""
    starts = [i for i, line in enumerate(header) if line.startswith(INCREMENTAL_HEADING)]
    if not starts:
        return header, None
    if len(starts) > 1:
        raise ValueError(f"{path}: more than one `-- {INCREMENTAL_HEADING}` line")
    start = starts[0]
    if _COLUMNS_HEADING in header and header.index(_COLUMNS_HEADING) < start:
        raise ValueError(f"{path}: `-- {INCREMENTAL_HEADING}` goes before `-- {_COLUMNS_HEADING}`")
    key = header[start].removeprefix(INCREMENTAL_HEADING).strip()
    if not _NAME_RE.match(key):
        raise ValueError(f"{path}: `-- {INCREMENTAL_HEADING}` names the key column, not {key!r}")
    end = start + 1
    expressions: dict[str, str] = {}
    while end < len(header) and header[end].startswith(" ") and header[end].strip():
        table, colon, expression = header[end].strip().partition(":")
        if not colon or not _NAME_RE.match(table.strip()) or not expression.strip():
            raise ValueError(f"{path}: not a `table: key expression` line under {INCREMENTAL_HEADING} {header[end]!r}")
        if table.strip() in expressions:
            raise ValueError(f"{path}: {INCREMENTAL_HEADING} names {table.strip()} twice")
        expressions[table.strip()] = expression.strip()
        end += 1
    return header[:start] + header[end:], (key, expressions)


def _parse_header(path: str, header: list[str]) -> tuple[str, tuple[Column, ...]]:
    if _COLUMNS_HEADING not in header:
        raise ValueError(f"{path}: the header comment has no `-- {_COLUMNS_HEADING}` list")
    split = header.index(_COLUMNS_HEADING)
    paragraphs: list[list[str]] = [[]]
    for line in header[:split]:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    description = "\n\n".join(" ".join(paragraph) for paragraph in paragraphs if paragraph)
    if not description:
        raise ValueError(f"{path}: the header comment starts with the model's description")
    columns: list[list[str]] = []
    indent = 0
    for line in header[split + 1 :]:
        match = _COLUMN_RE.match(line)
        if match and (not columns or len(match["indent"]) == indent):
            indent = len(match["indent"])
            columns.append([match["name"], match["text"]])
        elif columns and line.startswith(" " * (indent + 1)) and line.strip():
            columns[-1][1] += " " + line.strip()
        elif line:
            raise ValueError(f"{path}: not a `name: description` column line under {_COLUMNS_HEADING} {line!r}")
    if not columns:
        raise ValueError(f"{path}: no column is documented under {_COLUMNS_HEADING}")
    names = [name for name, _ in columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{path}: columns documented twice: {', '.join(repeated)}")
    return description, tuple(Column(name, text) for name, text in columns)


def table_references(sql: str, connection: duckdb.DuckDBPyConnection | None = None) -> set[str]:
    """Every table the one select statement `sql` reads, lower-case, qualified as written (`tenant_daily`,
    `source.events`): base-table references anywhere in DuckDB's parse tree (CTEs, subqueries, joins,
    set operations), except those naming a CTE in scope. Raises ValueError when `sql` is not exactly one
    select statement."""
    if connection is None:
        with duckdb.connect() as own:
            return table_references(sql, own)
    tree = json.loads(connection.execute("select json_serialize_sql(?)", [sql]).fetchone()[0])
    if tree.get("error"):
        raise ValueError(f"a model is one select statement (the build creates the table): {tree['error_message']}")
    if len(tree["statements"]) != 1:
        raise ValueError(f"a model is one select statement, not {len(tree['statements'])}")
    found: set[str] = set()

    def visit(node: object, ctes: frozenset[str]) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item, ctes)
            return
        if not isinstance(node, dict):
            return
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            ctes = ctes | {entry["key"].lower() for entry in cte_map.get("map", [])}
        if node.get("type") == "BASE_TABLE":
            parts = [node.get("catalog_name", ""), node.get("schema_name", ""), node["table_name"]]
            qualified = ".".join(part.lower() for part in parts if part)
            if qualified not in ctes:
                found.add(qualified)
        for value in node.values():
            visit(value, ctes)

    visit(tree["statements"][0], frozenset())
    return found


def _check(models: list[Model]) -> None:
    by_name: dict[str, Model] = {}
    for model in models:
        if model.name in by_name:
            raise ValueError(f"{model.path} and {by_name[model.name].path} are both the model {model.name}")
        by_name[model.name] = model
    for model in models:
        unknown = [f"{SOURCE_CATALOG}.{s}" for s in model.sources if s not in SOURCES]
        unknown += [name for name in model.depends_on if name not in by_name]
        if unknown:
            raise ValueError(f"{model.path}: reads {', '.join(unknown)}, neither a model nor a source")
        if model.layer == "mart" and model.sources:
            raise ValueError(
                f"{model.path}: a mart reads models, not sources ({', '.join(model.sources)}): "
                "read the staging models instead"
            )
        marts = [name for name in model.depends_on if by_name[name].layer == "mart"]
        if model.layer == "staging" and marts:
            raise ValueError(f"{model.path}: a staging model reads sources, not marts ({', '.join(marts)})")
        if model.incremental is not None:
            _check_incremental(model, by_name)


def _check_incremental(model: Model, by_name: dict[str, Model]) -> None:
    """A model's `Incremental:` declaration is one the refresh can carry out (see the module docstring)."""
    incremental = model.incremental
    assert incremental is not None
    problem = ""
    if incremental.key not in {column.name for column in model.columns}:
        problem = f"the key {incremental.key} is not a documented column"
    elif model.layer == "staging":
        not_lake = [name for name in model.sources if name not in LAKE_TABLES]
        whole = [name for name in incremental.whole if name not in FOLLOWED_WHOLE_INPUTS]
        others = [t for t, e in incremental.inputs if e not in (PARTITION_DAY, WHOLE)]
        if incremental.key != PARTITION_DAY:
            problem = f"a staging model's key is the partition day {PARTITION_DAY}"
        elif not_lake:
            problem = f"reads {', '.join(not_lake)}, which are not lake tables with partition days"
        elif whole or others:
            problem = f"a staging model reads a source for the changed days or (only {FOLLOWED_WHOLE_INPUTS}) whole"
        elif model.depends_on:
            problem = "a day-keyed staging model reads sources only"
        else:
            missing = [t for t in incremental.whole if t not in by_name or by_name[t].incremental is None]
            if missing:
                problem = f"reads {', '.join(missing)} whole but no day-keyed staging model of that name keeps it"
    else:
        untracked = [
            table
            for table, expression in incremental.inputs
            if (expression == WHOLE and not _is_reference(by_name[table]))
            or (expression != WHOLE and (expression == "" or by_name[table].incremental is None))
            or by_name[table].layer != "staging"
        ]
        if untracked:
            problem = (f"a mart names a key expression for each model it reads, each day-keyed staging, or reads "
                       f"a reference table whole: {untracked}")  # fmt: skip
    if problem:
        raise ValueError(f"{model.path}: {INCREMENTAL_HEADING} {problem}")


def _is_reference(model: Model) -> bool:
    """A staging model of reference sources only (no lake table): it changes only in a full rebuild."""
    return model.layer == "staging" and model.incremental is None and not set(model.sources) & set(LAKE_TABLES)


def models_fingerprint(models: list[Model]) -> str:
    """A hash of everything the models say (files, documentation, SQL, refresh declarations): a warehouse
    built under another fingerprint is rebuilt whole."""
    described = sorted(
        (m.path, m.layer, m.description, [[c.name, c.description] for c in m.columns], m.sql,
         None if m.incremental is None else [m.incremental.key, [list(i) for i in m.incremental.inputs]])
        for m in models
    )  # fmt: skip
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def model_order(models: list[Model]) -> list[Model]:
    """`models` with each after the models it reads: the staging layer, then the marts, each in rounds of
    models whose inputs are built (by name within a round). A cycle is a ValueError naming its models."""
    by_name = {model.name: model for model in models}
    ordered: list[Model] = []
    for layer in LAYERS.values():
        graph = {
            m.name: {d for d in m.depends_on if d in by_name and by_name[d].layer == layer}
            for m in models
            if m.layer == layer
        }
        sorter = graphlib.TopologicalSorter(graph)
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = " → ".join(reversed(exc.args[1]))  # graphlib lists a model before the ones that read it
            raise ValueError(f"models read each other in a cycle (each reads the next): {cycle}") from None
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            ordered += [by_name[name] for name in ready]
            sorter.done(*ready)
    return ordered
