"""One tenant's own warehouse: a DuckDB file holding only that tenant's rows of every model, to hand to the tenant.

Each model is exported by the column that says whose a row is: models with a `tenant_id` keep the rows whose
`tenant_id` is the tenant (rows of other tenants and unattributed rows stay out), `tenants` keeps the tenant's
own row, and the price list (`pricing`, the same for everyone) is copied whole. A model that has none of these is
left out and named in the result, so a new model never leaks other tenants' rows by default. Message bodies
(`text_body`) are left out unless asked for. Table and column documentation is carried over. The file is
written beside the target and renamed over it, so it appears whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.warehouse.models import load_models
from pipelines.warehouse.sources import sql_string

TENANT_COLUMN = "tenant_id"
SHARED_MODELS = frozenset({"pricing", "mailbox_providers", "reputation_thresholds"})
"""Reference models that hold no tenant's data (prices, the provider mapping, SES's thresholds): copied whole."""
BODY_COLUMNS = frozenset({"text_body"})
"""Columns holding message bodies: exported only with `with_bodies`."""


class ExportError(ValueError):
    """The export cannot be made (no warehouse, unknown tenant)."""


@dataclass
class TenantExport:
    path: Path
    row_counts: dict[str, int] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)
    """Models with no column naming the tenant (neither shared nor the registry): not exported."""


def export_tenant(warehouse: Path, tenant: str, target: Path, *, with_bodies: bool = False) -> TenantExport:
    """Write tenant `tenant`'s rows of every model of the published `warehouse` into the DuckDB file `target`."""
    warehouse, target = Path(warehouse), Path(target)
    if not warehouse.exists():
        raise ExportError(f"no warehouse at {warehouse}: run `seslake materialize` first")
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(f".{target.name}.exporting-{os.getpid()}")
    building.unlink(missing_ok=True)
    result = TenantExport(path=target)
    connection = duckdb.connect(str(building))
    try:
        connection.execute(f"attach {sql_string(str(warehouse))} as published (read_only)")
        known = {row[0] for row in connection.execute("select id from published.tenants").fetchall()}
        if tenant not in known:
            raise ExportError(f"unknown tenant {tenant!r}; known: {', '.join(sorted(known))}")
        for model in load_models():
            columns = [c.name for c in model.columns if with_bodies or c.name not in BODY_COLUMNS]
            if TENANT_COLUMN in columns:
                where = f"where {TENANT_COLUMN} = $tenant"
            elif model.name == "tenants":
                where = "where id = $tenant"
            elif model.name in SHARED_MODELS:
                where = ""
            else:
                result.left_out.append(model.name)
                continue
            select = ", ".join(f'"{c}"' for c in columns)
            connection.execute(f'create table "{model.name}" as select {select} from published."{model.name}" {where}',
                               {"tenant": tenant} if where else {})  # fmt: skip
            connection.execute(f'comment on table "{model.name}" is {sql_string(model.description)}')
            for column in model.columns:
                if column.name in columns:
                    connection.execute(f'comment on column "{model.name}"."{column.name}" is '
                                       f"{sql_string(column.description)}")  # fmt: skip
            count = connection.execute(f'select count(*) from "{model.name}"').fetchone()
            result.row_counts[model.name] = count[0] if count else 0
        connection.execute("detach published")
    except BaseException:
        connection.close()
        building.unlink(missing_ok=True)
        building.with_name(building.name + ".wal").unlink(missing_ok=True)
        raise
    connection.close()
    os.replace(building, target)
    return result
