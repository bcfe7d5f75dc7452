"""The data dictionary: every warehouse table and column with its documentation, as one Markdown page.

It is generated from the model files (`pipelines.warehouse.models.load_models`), the same text the build
stores as DuckDB table and column comments, so the page cannot say anything the warehouse does not.
`python -m pipelines.warehouse.dictionary docs/data-dictionary.md` rewrites the page; a test fails when the
checked-in page differs from the models.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.warehouse.models import Model, load_models

TITLE = "# Data dictionary"


def render_dictionary(models: list[Model]) -> str:
    """The page for `models`, in build order: staging first, then marts."""
    lines = [
        TITLE,
        "",
        "Every table of the warehouse (`data/warehouse.duckdb` by default) and its columns, generated from the model",
        "files under `sql/` (`python -m pipelines.warehouse.dictionary docs/data-dictionary.md`). The same text is",
        "in the file itself: `select table_name, column_name, comment from duckdb_columns()`.",
        "",
        "| table | layer | reads |",
        "|---|---|---|",
        *(f"| [`{m.name}`](#{m.name}) | {m.layer} | {', '.join(f'`{r}`' for r in _reads(m)) or '-'} |"
          for m in models),
    ]  # fmt: skip
    for model in models:
        lines += ["", f"## {model.name}", "", " ".join(model.description.split()), "", "| column | description |",
                  "|---|---|"]  # fmt: skip
        lines += [f"| `{c.name}` | {_cell(c.description)} |" for c in model.columns]
    return "\n".join(lines) + "\n"


def _reads(model: Model) -> list[str]:
    """The lake tables (as `source.<name>`) and models a model reads."""
    return [*(f"source.{name}" for name in model.sources), *model.depends_on]


def _cell(text: str) -> str:
    """Text on one line, safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def main(argv: list[str]) -> int:
    """Write the page to the path given (standard output when none)."""
    page = render_dictionary(load_models())
    if argv:
        Path(argv[0]).write_text(page, encoding="utf-8")
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
