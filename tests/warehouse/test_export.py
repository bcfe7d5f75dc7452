"""A tenant export holds that tenant's rows of every model and nothing of any other tenant: no row, no address,
no id; bodies only when asked for."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.cli.main import main
from pipelines.tenants import load_registry
from pipelines.warehouse.export import BODY_COLUMNS, ExportError, export_tenant
from pipelines.warehouse.models import load_models


@pytest.fixture(scope="module")
def warehouse(small_warehouse, small_archive):
    return small_warehouse, load_registry(str(small_archive / "tenants.yaml"))


def _texts(path) -> list[str]:
    """Every value of every table of a DuckDB file, as text."""
    values: list[str] = []
    with duckdb.connect(str(path), read_only=True) as connection:
        for (table,) in connection.execute("select table_name from information_schema.tables").fetchall():
            for row in connection.execute(f'select * from "{table}"').fetchall():
                values.extend(str(v) for v in row if v is not None)
    return values


def _others(warehouse_path, tenant: str) -> set[str]:
    """What identifies other tenants' data: their ids, and the message ids, object keys and thread ids of their
    mail (SES ids and keys are unique per message)."""
    with duckdb.connect(str(warehouse_path), read_only=True) as connection:
        rows = connection.execute(
            "select object_key, ses_message_id from messages where tenant_id is distinct from ? "
            "union all select thread_id, null from message_threads where tenant_id is distinct from ?",
            [tenant, tenant],
        ).fetchall()
    return {v for row in rows for v in row if v}


def test_an_export_holds_only_its_tenants_rows(warehouse, tmp_path):
    path, registry = warehouse
    tenant, *others = sorted(registry.tenants)
    result = export_tenant(path, tenant, tmp_path / "export.duckdb")

    models = {m.name: m for m in load_models()}
    assert set(result.row_counts) | set(result.left_out) == set(models) and result.left_out == []
    with duckdb.connect(str(path), read_only=True) as full, duckdb.connect(str(result.path), read_only=True) as mine:
        for name, model in models.items():
            columns = {c.name for c in model.columns}
            if "tenant_id" in columns:
                want = full.execute(f'select count(*) from "{name}" where tenant_id = ?', [tenant]).fetchone()[0]
                assert mine.execute(f'select count(distinct tenant_id) from "{name}"').fetchone()[0] <= 1
            elif name == "tenants":
                want = 1
            else:
                want = full.execute(f'select count(*) from "{name}"').fetchone()[0]
            assert result.row_counts[name] == want, name
        assert mine.execute("select id from tenants").fetchall() == [(tenant,)]
        messages = [c[0] for c in mine.execute("describe messages").fetchall()]
        assert not BODY_COLUMNS & set(messages)
        comment = mine.execute("select comment from duckdb_tables() where table_name = 'tenant_daily'").fetchone()[0]
        assert comment == models["tenant_daily"].description
    assert result.row_counts["messages"] > 0

    text = "\n".join(_texts(result.path))
    foreign = _others(path, tenant) | set(others)
    foreign |= {a for other in others for a in registry.tenants[other].inbound_addresses}
    leaked = sorted(value for value in foreign if value in text)
    assert leaked == []


def test_bodies_only_when_asked_for(warehouse, tmp_path):
    path, registry = warehouse
    tenant = sorted(registry.tenants)[0]
    export_tenant(path, tenant, tmp_path / "bodies.duckdb", with_bodies=True)
    with duckdb.connect(str(tmp_path / "bodies.duckdb"), read_only=True) as mine:
        bodies = mine.execute("select count(*) from messages where text_body <> ''").fetchone()[0]
    assert bodies > 0


def test_the_cli_writes_an_export_and_refuses_an_unknown_tenant(warehouse, tmp_path, monkeypatch, capsys):
    path, registry = warehouse
    tenant = sorted(registry.tenants)[-1]
    monkeypatch.setenv("SESLAKE_WAREHOUSE", str(path))
    assert main(["export", "--tenant", tenant, "--out", str(tmp_path / "t.duckdb")]) == 0
    assert "without message bodies" in capsys.readouterr().out
    with duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True) as mine:
        assert mine.execute("select distinct tenant_id from messages").fetchall() == [(tenant,)]
    assert main(["export", "--tenant", "nobody", "--out", str(tmp_path / "n.duckdb")]) == 2
    assert not (tmp_path / "n.duckdb").exists()
    with pytest.raises(ExportError, match="unknown tenant"):
        export_tenant(path, "nobody", tmp_path / "n.duckdb")
