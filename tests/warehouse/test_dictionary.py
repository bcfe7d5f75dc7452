"""The data dictionary page is generated from the model files and is current."""

from __future__ import annotations

from pathlib import Path

from pipelines.warehouse.dictionary import render_dictionary
from pipelines.warehouse.models import load_models

PAGE = Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md"


def test_the_checked_in_page_is_what_the_models_say():
    """Regenerate with `python -m pipelines.warehouse.dictionary docs/data-dictionary.md` after changing sql/."""
    assert PAGE.read_text(encoding="utf-8") == render_dictionary(load_models())


def test_every_table_and_column_has_its_row():
    models = load_models()
    page = render_dictionary(models)
    for model in models:
        section = page.split(f"\n## {model.name}\n", 1)[1].split("\n## ", 1)[0]
        assert model.description.split()[0] in section
        assert [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")] == [
            column.name for column in model.columns
        ]
