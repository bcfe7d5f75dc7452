"""The warehouse's model files: each is documented and one select, staging reads sources and marts read
models, and a model depends on the tables its select really reads (DuckDB's parse tree), not on names
in comments, strings or CTEs."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.storage.schemas import SCHEMAS, as_read
from pipelines.tenants import TenantRegistry
from pipelines.warehouse.build import create_model
from pipelines.warehouse.models import (
    LAKE_TABLES,
    SOURCE_CATALOG,
    SOURCES,
    Column,
    Incremental,
    load_models,
    parse_model,
    table_references,
)
from pipelines.warehouse.pricing import PRICES_USD
from pipelines.warehouse.sources import reference_tables
from tests.conftest import PROJECT

HEADER = "-- A test model.\n--\n-- Columns:\n--   x: The x.\n"


def write_models(root: Path, files: dict[str, str]) -> Path:
    for path, sql in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(HEADER + sql)
    return root


def test_the_shipped_models_load_staging_first_and_in_dependency_order():
    models = load_models()
    names = [m.name for m in models]
    layers = [m.layer for m in models]
    assert layers == sorted(layers, key=["staging", "mart"].index)
    assert {m.name for m in models if m.layer == "staging"} == set(SOURCES)
    for position, model in enumerate(models):
        assert set(model.depends_on) <= set(names[:position]), model.name
        assert model.description and model.columns and "create table" not in model.sql.lower()
    assert names.index("tenant_daily") < names.index("tenant_reputation") < names.index("tenant_summary")
    by_name = {m.name: m for m in models}
    assert by_name["messages"].sources == ("message_threads", "messages", "thread_renames")
    assert by_name["tenant_summary"].depends_on == (
        "events", "forwarding_health", "tenant_costs", "tenant_daily", "tenant_reputation"
    )  # fmt: skip
    # tenant_costs has a CTE called `attachments`: not a read of the model attachments
    assert by_name["tenant_costs"].depends_on == ("events", "messages", "pricing")


def test_the_shipped_models_are_the_repository_sql_folder():
    """In a checkout, `pipelines.warehouse.sql` is the top-level sql/ folder (an editable install)."""
    on_disk = sorted(p.relative_to(PROJECT / "sql").as_posix() for p in (PROJECT / "sql").rglob("*.sql"))
    assert sorted(m.path for m in load_models()) == on_disk
    assert [m.name for m in load_models(PROJECT / "sql")] == [m.name for m in load_models()]


def test_staging_documents_every_column_of_its_source():
    """A column the lake (or a reference table: registry, prices, providers, thresholds) gains must be added to
    its staging model and documented."""
    documented = {m.name: [c.name for c in m.columns] for m in load_models() if m.layer == "staging"}
    for table in LAKE_TABLES:
        assert set(as_read(SCHEMAS[table]).names) <= set(documented[table]), table
    assert list(PRICES_USD) == documented["pricing"]
    for name, rows in reference_tables(TenantRegistry([])).items():
        assert rows.column_names == documented[name], name


def test_a_name_in_a_comment_is_not_a_dependency(tmp_path):
    root = write_models(tmp_path, {
        "staging/a.sql": "select 1 as x",
        "staging/b.sql": "\n-- unlike b, c reads a\nselect 1 as x /* not from a either */",
        "marts/c.sql": "select x from a -- and not from b\n",
    })  # fmt: skip
    by_name = {m.name: m for m in load_models(root)}
    assert by_name["b"].depends_on == ()
    assert by_name["c"].depends_on == ("a",)


def test_a_name_in_a_string_literal_is_not_a_dependency(tmp_path):
    root = write_models(tmp_path, {
        "staging/a.sql": "select 1 as x",
        "marts/b.sql": "select 'a' as x, 'select * from a' as y where 'a' <> 'from a'",
    })  # fmt: skip
    assert [m.depends_on for m in load_models(root) if m.name == "b"] == [()]


def test_references_are_found_anywhere_in_the_statement_but_not_cte_names():
    sql = """
    with recursive walk(n) as (select n from seeds union all select n + 1 from walk where n < 3),
    joined as (select * from walk join source.events using (n))
    select (select max(n) from scalars where n in (select n from listed)) as m
    from joined, main.qualified left join lateral (select * from lateral_one) on true
    where exists (select 1 from existing)
    union all select 1 from unioned
    """
    assert table_references(sql) == {
        "seeds", "source.events", "scalars", "listed", "main.qualified", "lateral_one", "existing", "unioned",
    }  # fmt: skip
    # a CTE's name only shadows within its statement; elsewhere the same name is the model
    assert table_references("select * from (with t as (select 1) select * from t), t") == {"t"}


def test_a_cycle_is_an_error_naming_its_models(tmp_path):
    root = write_models(tmp_path, {
        "marts/a.sql": "select * from c", "marts/b.sql": "select * from a", "marts/c.sql": "select * from b",
        "marts/d.sql": "select * from a",
    })  # fmt: skip
    with pytest.raises(ValueError, match="cycle") as error:
        load_models(root)
    assert str(error.value).endswith(": a → c → b → a")  # each reads the next; d only reads the cycle


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"marts/a.sql": "create table a as select 1 as x"}, "one select statement"),
        ({"marts/a.sql": "select 1 as x; select 2 as x"}, "one select statement, not 2"),
        ({"marts/a.sql": "select * from nowhere"}, "reads nowhere, neither a model nor a source"),
        ({"marts/a.sql": "select * from source.events"}, "a mart reads models, not sources"),
        ({"staging/a.sql": "select * from source.nowhere"}, "reads source.nowhere"),
        ({"staging/a.sql": "select * from b", "marts/b.sql": "select 1 as x"}, "not marts"),
        ({"staging/a.sql": "select * from other.t"}, "reads other.t"),
        ({"staging/a.sql": "select 1 as x", "marts/a.sql": "select 1 as x"}, "are both the model a"),
        ({"a.sql": "select 1 as x"}, "a model lives in one of staging/, marts/"),
        ({"extra/a.sql": "select 1 as x"}, "extra/: not a layer"),
        ({"marts/A-b.sql": "select 1 as x"}, "file name is its table's name"),
    ],
)
def test_a_model_that_breaks_the_rules_is_an_error_naming_its_file(tmp_path, files, error):
    with pytest.raises(ValueError, match=error):
        load_models(write_models(tmp_path, files))


def test_the_header_gives_description_and_columns():
    text = (
        "-- First paragraph,\n-- on two lines.\n--\n-- Second paragraph.\n--\n-- Columns:\n"
        "--   day: The UTC day; see: the docs.\n--     More about day.\n--   n_events: Events.\n"
        "select 1 as day, 2 as n_events;\n"
    )
    model = parse_model("marts/m.sql", "mart", text)
    assert (model.name, model.layer, model.path) == ("m", "mart", "marts/m.sql")
    assert model.description == "First paragraph, on two lines.\n\nSecond paragraph."
    assert model.columns == (
        Column("day", "The UTC day; see: the docs. More about day."),
        Column("n_events", "Events."),
    )
    assert model.sql == "select 1 as day, 2 as n_events"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("-- Description.\nselect 1 as x", "no `-- Columns:` list"),
        ("-- Columns:\n--   x: The x.\nselect 1 as x", "starts with the model's description"),
        ("-- D.\n-- Columns:\nselect 1 as x", "no column is documented"),
        ("-- D.\n-- Columns:\n--   x: The x.\n--   x: Again.\nselect 1 as x", "documented twice: x"),
        ("-- D.\n-- Columns:\n--   x: The x.\n-- y: Not indented.\nselect 1 as x", "not a `name: description`"),
        ("select 1 as x", "no `-- Columns:` list"),
    ],
)
def test_a_header_that_is_not_the_format_is_an_error(text, error):
    with pytest.raises(ValueError, match=error):
        parse_model("marts/m.sql", "mart", text)


def test_a_table_that_differs_from_its_documentation_is_not_created():
    model = parse_model("marts/m.sql", "mart", "-- D.\n--\n-- Columns:\n--   x: The x.\nselect 1 as x, 2 as y")
    with duckdb.connect() as connection:
        with pytest.raises(ValueError, match=r"undocumented \['y'\]"):
            create_model(connection, model)
        assert connection.execute("select count(*) from duckdb_tables() where table_name = 'm'").fetchone()[0] == 0


def test_messages_carry_the_thread_id_read_through_every_rename():
    """t1 was joined into t2, then t2 into t3: messages threaded as t1, t2 and t3 all read t3."""
    sources = {
        "messages": [{"tenant_id": "a", "direction": "inbound", "object_key": f"k{i}"} for i in range(1, 5)],
        "message_threads": [
            {"tenant_id": "a", "direction": "inbound", "object_key": f"k{i}", "thread_id": f"t{i}"} for i in range(1, 4)
        ],
        "thread_renames": [
            {"tenant_id": "a", "old_thread_id": "t1", "thread_id": "t2"},
            {"tenant_id": "a", "old_thread_id": "t2", "thread_id": "t3"},
        ],
    }
    messages = next(m for m in load_models() if m.name == "messages")
    with duckdb.connect() as connection:
        connection.execute(f"attach ':memory:' as {SOURCE_CATALOG}")
        for name, rows in sources.items():
            connection.register("rows", pa.Table.from_pylist(rows, schema=as_read(SCHEMAS[name])))
            connection.execute(f"create table {SOURCE_CATALOG}.{name} as select * from rows")
        create_model(connection, messages)
        found = dict(connection.execute("select object_key, thread_id from messages").fetchall())
    assert found == {"k1": "t3", "k2": "t3", "k3": "t3", "k4": None}


def test_the_incremental_line_is_read_and_kept_out_of_the_description():
    text = (
        "-- Per day.\n--\n-- Incremental: day\n--   a: cast(seen as date)\n--\n-- Columns:\n--   day: The day.\n"
        "select cast(seen as date) as day from a"
    )
    model = parse_model("marts/m.sql", "mart", text)
    assert model.description == "Per day."
    assert model.incremental == Incremental(key="day", inputs=(("a", "cast(seen as date)"),))
    staging = parse_model("staging/s.sql", "staging", "-- S.\n-- Incremental: date\n-- Columns:\n--   date: D.\n"
                          "select date from source.messages join source.thread_renames using (date)")  # fmt: skip
    assert staging.incremental.inputs == (("messages", "date"), ("thread_renames", "date"))
    shipped = {m.name: m.incremental for m in load_models()}
    assert shipped["messages"].whole == ("thread_renames",)
    assert shipped["tenants"] is None and shipped["tenant_summary"] is None
    assert shipped["tenant_daily"].expression("events") == "cast(event_at as date)"


INCREMENTAL_HEADER = "-- A test model.\n--\n-- Incremental: {}\n--\n-- Columns:\n--   x: The x.\n--   date: The day.\n"


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"staging/a.sql": ("y", "select 1 as x, date from source.events")}, "the key y is not a documented column"),
        ({"staging/a.sql": ("x", "select 1 as x, date from source.events")}, "key is the partition day date"),
        ({"staging/a.sql": ("date", "select 1 as x, current_date as date from source.tenants")}, "not lake tables"),
        ({"staging/a.sql": ("date\n--   events: whole", "select 1 as x, date from source.events")}, "or (only"),
        ({"staging/a.sql": ("date\n--   recipients: date", "select 1 as x, date from source.events")},
         "names recipients, which the model does not read"),
        ({"staging/a.sql": ("date", "select 1 as x, date from source.events"),
          "marts/b.sql": ("x", "select x, date from a")}, "a key expression for each model it reads"),
        ({"staging/a.sql": ("date", "select 1 as x, date from source.events"),
          "marts/b.sql": ("x\n--   a x", "select x, date from a")}, "not a `table: key expression` line"),
    ],
)  # fmt: skip
def test_an_incremental_line_the_refresh_cannot_follow_is_an_error(tmp_path, files, error):
    for path, (declared, sql) in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(INCREMENTAL_HEADER.format(declared) + sql)
    with pytest.raises(ValueError, match=re.escape(error)):
        load_models(tmp_path)
