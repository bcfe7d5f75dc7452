"""deploy/: both instance files pass Dagster's own validation (the instance schema, then each configurable
class's schema with the `env:` values resolved), a broken copy is refused by the same check, the IAM policy
is well formed and grants no wildcard action, and the image installs the project as a plain package.

Dagster has no public call that validates an instance file without connecting to its storage
(`DagsterInstance.from_config` opens Postgres and a Kubernetes or ECS client), so these tests use the
functions the instance loader itself calls, from Dagster's private modules: `dagster_instance_config`
(the instance schema), `process_config` (a class's own config schema, resolving `env:` values) and
`ConcurrencyConfig.from_concurrency_settings` (how the instance merges run limits)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from dagster._config import process_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import ConcurrencyConfig, dagster_instance_config
from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator
from dagster._serdes.config_class import ConfigurableClassData, class_from_code_pointer

from tests.conftest import PROJECT

DEPLOY = PROJECT / "deploy"
LAUNCHERS = {
    "dagster.yaml": ("dagster_k8s", "K8sRunLauncher"),
    "dagster.ecs.yaml": ("dagster_aws.ecs", "EcsRunLauncher"),
}
PG_ENV = {
    "DAGSTER_PG_HOST": "db.internal",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "s3cret",
}


@pytest.fixture
def pg_env(monkeypatch):
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)


def load_instance(folder: Path, filename: str) -> dict:
    """The instance file validated as Dagster loads it: the instance schema, then every configurable class
    (storage, run coordinator, run launcher) imported and its `config` processed against its own schema."""
    config, _ = dagster_instance_config(str(folder), config_filename=filename)
    sections = {"storage": ("dagster_postgres", "DagsterPostgresStorage", config["storage"]["postgres"])}
    for name in ("run_coordinator", "run_launcher"):
        section = config[name]
        sections[name] = (section["module"], section["class"], section.get("config") or {})
    processed = {}
    for name, (module, class_name, class_config) in sections.items():
        # as the instance does it: `dagster.core` module names become `dagster._core`, then the class is imported
        data = ConfigurableClassData(module, class_name, yaml.safe_dump(class_config))
        klass = class_from_code_pointer(data.module_name, data.class_name)
        result = process_config(klass.config_type(), class_config)
        if not result.success:
            raise DagsterInvalidConfigError(f"{filename}: {name}", result.errors, class_config)
        processed[name] = (klass, result.value)
    return {"raw": config, "processed": processed}


@pytest.mark.parametrize("filename", sorted(LAUNCHERS))
def test_instance_file_passes_dagsters_validation(filename, pg_env):
    loaded = load_instance(DEPLOY, filename)
    raw, processed = loaded["raw"], loaded["processed"]

    assert list(raw["storage"]) == ["postgres"]
    storage_class, storage = processed["storage"]
    assert storage_class.__name__ == "DagsterPostgresStorage"
    db = storage["postgres_db"]
    assert (db["hostname"], db["port"], db["password"]) == ("db.internal", 5432, "s3cret")  # from the env

    coordinator_class, coordinator_config = processed["run_coordinator"]
    assert coordinator_class is QueuedRunCoordinator
    coordinator = QueuedRunCoordinator.from_config_value(
        ConfigurableClassData("dagster.core.run_coordinator", "QueuedRunCoordinator", "{}"), coordinator_config
    )
    effective = ConcurrencyConfig.from_concurrency_settings(raw["concurrency"], coordinator.get_run_queue_config())
    queue = effective.run_queue_config
    assert queue.max_concurrent_runs == 8
    assert {limit["key"] for limit in queue.tag_concurrency_limits} >= {"dagster/backfill"}
    assert effective.pool_config.default_pool_limit == 1
    assert coordinator.dequeue_interval_seconds == 1

    module, class_name = LAUNCHERS[filename]
    launcher_class, _ = processed["run_launcher"]
    assert (raw["run_launcher"]["module"], launcher_class.__name__) == (module, class_name)
    assert raw["run_monitoring"]["enabled"] is True
    assert raw["telemetry"]["enabled"] is False


def test_the_two_files_differ_only_in_the_launcher():
    files = {name: yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8")) for name in LAUNCHERS}
    for config in files.values():
        config.pop("run_launcher")
    assert files["dagster.yaml"] == files["dagster.ecs.yaml"]


BROKEN = [
    ("max_concurrent_runs: 8", 'max_concurrent_runs: "lots"'),
    ("dequeue_interval_seconds: 1", "dequeue_interval_seconds: 1\n    dequeue_everything: true"),
    ("default_limit: 1", "default_limit: -3"),
    ("job_namespace: seslake", "job_namespaces: seslake"),  # a misspelt launcher key (dagster.yaml only)
    ("      port:\n", "      portt:\n"),  # a misspelt storage key
]


@pytest.mark.parametrize(("good", "bad"), BROKEN, ids=[bad.split(":")[0].strip() for _, bad in BROKEN])
def test_a_broken_copy_is_refused(good, bad, tmp_path, pg_env):
    text = (DEPLOY / "dagster.yaml").read_text(encoding="utf-8")
    assert text.count(good) == 1
    (tmp_path / "dagster.yaml").write_text(text.replace(good, bad), encoding="utf-8")
    with pytest.raises(DagsterInvalidConfigError):
        load_instance(tmp_path, "dagster.yaml")


def test_a_missing_password_variable_is_refused(pg_env, monkeypatch):
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    with pytest.raises(DagsterInvalidConfigError):
        load_instance(DEPLOY, "dagster.yaml")


def test_moving_run_limits_into_the_run_coordinator_is_refused(tmp_path, pg_env):
    """Dagster 1.13 refuses run limits in both places: they belong under `concurrency: runs:`."""
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text(encoding="utf-8"))
    config["run_coordinator"]["config"]["max_concurrent_runs"] = 8
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(DagsterInvalidConfigError, match="max_concurrent_runs"):
        load_instance(tmp_path, "dagster.yaml")


def test_iam_policy_statements_are_explicit():
    policy = json.loads((DEPLOY / "iam-policy.json").read_text(encoding="utf-8"))
    assert policy["Version"] == "2012-10-17"
    statements = policy["Statement"]
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        assert actions and resources, statement
        assert all(re.fullmatch(r"[a-z0-9]+:[A-Za-z]+", action) for action in actions), actions  # no '*'
        assert "*" not in resources, statement
    actions = {action for s in statements for action in s["Action"]}
    assert {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject", "sqs:ReceiveMessage",
            "sqs:DeleteMessage", "kms:Decrypt"} <= actions  # fmt: skip
    (kms,) = [s for s in statements if "kms:Decrypt" in s["Action"]]
    assert {"kms:EncryptionContext:aws:ses:source-account", "kms:EncryptionContext:aws:ses:rule-name"} <= set(
        kms["Condition"]["StringEquals"]
    )


def dockerfile_commands() -> list[list[str]]:
    """The Dockerfile's instructions with their continuation lines joined, comments left out."""
    lines, current = [], ""
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    commands = []
    for line in lines:
        instruction, _, rest = line.partition(" ")
        exec_form = instruction in ("CMD", "ENTRYPOINT", "HEALTHCHECK") and rest.startswith("[")
        commands.append([instruction, *(json.loads(rest) if exec_form else shlex.split(rest))])
    return commands


def test_the_image_installs_the_project_as_a_plain_package_with_the_deploy_extra():
    """What .ci/run installs, without `-e`: the wheel's contents (every module, every SQL model) and that an
    installed wheel builds the warehouse are checked by tests/warehouse/test_packaging.py."""
    commands = dockerfile_commands()
    runs = [words[1:] for words in commands if words[0] == "RUN"]
    installs = [words for words in runs if "pip" in words and "install" in words]
    assert installs, "the Dockerfile installs nothing with pip"
    for words in installs:
        assert "-e" not in words and "--editable" not in words, words
    # the project itself (a path: the checkout or a wheel built from it), not a package from the index
    project = [word for words in installs for word in words if re.fullmatch(r"[./][^\s\[]*\[deploy\]", word)]
    assert project, installs
    mounted = [words for words in runs if any(word.startswith("--mount=type=bind") for word in words)]
    copied = [words for words in commands if words[0] == "COPY"]
    assert mounted or any(words[-1].rstrip("/") in project[0] for words in copied), (
        "the checkout never reaches the build"
    )

    assert commands[0][0] == "FROM" and re.match(r"python:3\.1[12]-slim", commands[0][1])
    user = [words[1] for words in commands if words[0] == "USER"]
    assert user and user[-1] not in ("root", "0"), user
    entry = " ".join(next(words[1:] for words in reversed(commands) if words[0] in ("CMD", "ENTRYPOINT")))
    assert "code-server start" in entry and "pipelines.definitions" in entry and "4000" in entry


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = {line.strip().rstrip("/") for line in (PROJECT / ".dockerignore").read_text().splitlines()}
    assert {".venv", "data", ".git"} <= ignored


def test_the_sql_models_are_part_of_the_package():
    """The image builds the warehouse from the installed package's models (pyproject ships sql/ as
    pipelines.warehouse.sql); that the built wheel really holds them is tests/warehouse/test_packaging.py."""
    setuptools = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "pipelines.warehouse.sql" in setuptools["packages"]
    assert setuptools["package-dir"]["pipelines.warehouse.sql"] == "sql"
    assert "**/*.sql" in setuptools["package-data"]["pipelines.warehouse.sql"]
    assert any((PROJECT / "sql").rglob("*.sql"))
