"""The column types of every model, without a lake: the models built once over empty sources in memory (about
0.2 s), cached in the temporary folder under the models' fingerprint, so that a code location can show each
model's column schema when it loads without paying for it at every load."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import duckdb

from pipelines.tenants import TenantRegistry
from pipelines.warehouse.build import create_model
from pipelines.warehouse.models import Model, model_order, models_fingerprint
from pipelines.warehouse.sources import attach_sources


def model_column_types(models: list[Model]) -> dict[str, list[tuple[str, str]]]:
    """Model → [(column, DuckDB type)], in the models' column order."""
    cache = Path(tempfile.gettempdir()) / f"seslake-model-types-{models_fingerprint(models)[:16]}.json"
    try:
        return {name: [tuple(c) for c in columns] for name, columns in json.loads(cache.read_text()).items()}
    except (OSError, ValueError):
        pass
    types: dict[str, list[tuple[str, str]]] = {}
    with duckdb.connect() as connection:
        connection.execute("set TimeZone = 'UTC'")
        attach_sources(connection, TenantRegistry([]))
        for model in model_order(models):
            create_model(connection, model)
            types[model.name] = [(row[0], row[1]) for row in connection.execute(f'describe "{model.name}"').fetchall()]
    partial = cache.with_name(f"{cache.name}.{os.getpid()}")
    partial.write_text(json.dumps(types))
    os.replace(partial, cache)
    return types
