"""The package's layout rules, checked on its source: each stage's modules import one another without
cycles, no module takes a private name from another, domain code never imports Dagster, and `pipelines`
reaches `assets/` only through `definitions.py`."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import PROJECT

PACKAGE = PROJECT / "pipelines"
DAGSTER_ALLOWED = ("pipelines.orchestration", "pipelines.cli", "pipelines.definitions")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.append((base, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return found


def _modules(root: Path) -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(root.rglob("*.py"))}


def _graph() -> dict[str, set[str]]:
    modules = _modules(PACKAGE)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for base, names in _imports(path):
            for target in [f"{base}.{n}" for n in names if f"{base}.{n}" in modules] or [base]:
                if target in modules and not (target.startswith(name + ".") or name.startswith(target + ".")):
                    graph[name].add(target)
    return graph


def test_no_import_cycles_among_the_modules_of_pipelines():
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles
    assert len(graph) > 40  # the walk saw the whole package


def test_no_private_name_is_imported_from_another_module():
    modules = _modules(PACKAGE) | _modules(PROJECT / "tests") | _modules(PROJECT / "assets")
    offences = [
        f"{name} takes {imported} from {base}"
        for name, path in modules.items()
        for base, names in _imports(path)
        if base.startswith(("pipelines", "tests", "assets")) and base != name
        for imported in names
        if imported.startswith("_") and not imported.startswith("__")
    ]
    assert not offences, offences


def test_only_the_orchestration_layer_imports_dagster():
    offences = [
        name
        for name, path in _modules(PACKAGE).items()
        if not name.startswith(DAGSTER_ALLOWED)
        and any(base == "dagster" or base.startswith(("dagster.", "dagster_")) for base, _ in _imports(path))
    ]
    assert not offences, offences


def test_pipelines_reaches_assets_only_through_definitions():
    offences = [
        name
        for name, path in _modules(PACKAGE).items()
        if name != "pipelines.definitions" and any(base.split(".")[0] == "assets" for base, _ in _imports(path))
    ]
    assert not offences, offences


def test_only_settings_reads_the_environment():
    offences = [
        name
        for name, path in _modules(PACKAGE).items()
        if name != "pipelines.settings"
        and any(word in path.read_text(encoding="utf-8") for word in ("os.environ", "os.getenv", "getenv("))
    ]
    assert not offences, offences
