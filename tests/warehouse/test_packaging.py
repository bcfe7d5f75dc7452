"""A plain (non-editable) install works: the wheel holds every module and every model file, and from a
fresh virtual environment with no source tree on its path, `seslake generate` + `materialize` publish
every analyst table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import duckdb

from pipelines.warehouse.state import BUILD_TABLE
from tests.conftest import PROJECT
from tests.warehouse.test_build import ANALYST_TABLES

SKIPPED = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "__pycache__", ".ruff_cache", ".pytest_cache", "data", ".dagster_home"
)
"""What a clean checkout does not have: building from a copy keeps the repository free of `build/` (whose
stale files setuptools would put in a later wheel)."""


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


def test_a_wheel_installed_in_a_fresh_environment_builds_the_warehouse(tmp_path):
    source = tmp_path / "checkout"
    shutil.copytree(PROJECT, source, ignore=SKIPPED)
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(tmp_path / "wheels")], tmp_path
    )
    (wheel,) = (tmp_path / "wheels").glob("seslake-*.whl")

    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        p.relative_to(source).as_posix() for folder in ("pipelines", "assets") for p in (source / folder).rglob("*.py")
    }
    models = {p.relative_to(source / "sql").as_posix() for p in (source / "sql").rglob("*.sql")}
    assert modules <= in_wheel, sorted(modules - in_wheel)
    assert {f"pipelines/warehouse/sql/{m}" for m in models} | {"pipelines/warehouse/sql/__init__.py"} <= in_wheel
    assert {f"pipelines/warehouse/sql/{m}" for m in models} == {
        name for name in in_wheel if name.startswith("pipelines/warehouse/sql/") and name.endswith(".sql")
    }

    # A fresh environment: the wheel without its dependencies, which come from this environment's
    # site-packages through a .pth path line (which adds the folder without running the editable
    # install's finder there, so the source tree stays out of reach).
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip()
    )
    (site / "seslake-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        tmp_path,
    )

    work = tmp_path / "work"
    work.mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("SESLAKE_", "PYTHON", "DAGSTER_"))}
    env.pop("VIRTUAL_ENV", None)
    env |= {
        "SESLAKE_SOURCE": str(work / "bucket"),
        "SESLAKE_LAKE": str(work / "lake"),
        "SESLAKE_WAREHOUSE": str(work / "warehouse.duckdb"),
        "SESLAKE_HANDOFF_LEDGER": str(work / "handoff.sqlite"),
        "SESLAKE_START_DATE": "2026-10-01",
    }
    imported = run([str(python), "-c", "import pipelines, pipelines.warehouse.sql as s; print(pipelines.__file__);"
                    "print(s.__file__)"], work, env).stdout.split()  # fmt: skip
    assert len(imported) == 2 and all(Path(path).is_relative_to(site) for path in imported), imported

    seslake = str(venv / "bin" / "seslake")
    run([seslake, "generate", "--dir", "bucket", "--days", "3", "--tenants", "2", "--start", "2026-10-01"], work, env)
    materialized = run([seslake, "materialize"], work, env)
    assert "materializing warehouse_models (" in materialized.stdout
    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as connection:
        tables = {row[0] for row in connection.execute("select table_name from information_schema.tables").fetchall()}
        tenant_days = connection.execute("select count(*) from tenant_daily").fetchone()[0]
    assert tables - {BUILD_TABLE} == ANALYST_TABLES == {Path(m).stem for m in models}
    assert tenant_days > 0
    report = run([seslake, "report"], work, env)
    assert str(work / "warehouse.duckdb") in report.stdout
