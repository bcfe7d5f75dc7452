"""Every query of the analyst cookbook runs against a generated warehouse and answers with rows."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

COOKBOOK = Path(__file__).resolve().parents[2] / "docs" / "analyst-cookbook.md"


def recipes() -> list[tuple[str, str]]:
    """(heading, SQL) of each `sql` block, under its `##` heading."""
    found = []
    for section in re.split(r"^## ", COOKBOOK.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        heading = section.splitlines()[0].strip()
        found += [(heading, sql) for sql in re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)]
    return found


def test_the_cookbook_has_its_recipes():
    headings = [heading for heading, _ in recipes()]
    assert len(headings) == len(set(headings)) >= 6


@pytest.mark.parametrize(("heading", "sql"), recipes(), ids=[h for h, _ in recipes()])
def test_a_recipe_runs_and_answers(small_warehouse, heading, sql):
    with duckdb.connect(str(small_warehouse), read_only=True) as connection:
        rows = connection.execute(sql).fetchall()
    assert rows, f"{heading}: no rows"
