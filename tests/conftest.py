"""Shared fixtures: a real moto server on 127.0.0.1, generated archives, registries."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, settings

PROJECT = Path(__file__).resolve().parents[1]
"""The repository's root folder (where workspace.yaml is)."""
SHARED = PROJECT.parent / "shared"
REAL_SES = SHARED / "samples" / "real-ses"
COMPOSED_SES = SHARED / "samples" / "ses"


@pytest.fixture(scope="session", autouse=True)
def fake_aws_credentials() -> Iterator[None]:
    """boto3 needs credentials and a region; moto accepts any. Never real ones in tests."""
    patch = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        patch.setenv(name, value)
    yield
    patch.undo()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server speaking S3/SQS over HTTP on loopback."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    """A fresh, empty bucket name on the moto server."""
    name = f"seslake-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 3-tenant, 6-day archive shared by the read-only tests."""
    from pipelines.generator import generate_archive

    dest = tmp_path_factory.mktemp("archive")
    generate_archive(dest, tenants=3, days=6, seed=11, start=date(2026, 10, 1))
    return dest


@pytest.fixture(scope="session")
def small_warehouse(small_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published warehouse of `small_archive` (mail, events and threads), shared by the read-only tests."""
    from pipelines.events.ingest import ingest_events
    from pipelines.mail.ingest import ingest_mime
    from pipelines.storage.lake import Lake
    from pipelines.storage.objects import LocalStore
    from pipelines.tenants import load_registry
    from pipelines.threads.lake import thread_lake
    from pipelines.warehouse.build import build_warehouse

    registry = load_registry(str(small_archive / "tenants.yaml"))
    lake = Lake(LocalStore(tmp_path_factory.mktemp("lake")))
    store = LocalStore(small_archive)
    for direction in ("inbound", "outbound"):
        ingest_mime(store, lake, registry, direction, f"{direction}/", None, workers=1)
    ingest_events(store, lake, registry, "events/")
    thread_lake(lake, inbound_domains=sorted(registry.inbound_domains))
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    build_warehouse(lake, registry, path)
    return path


def upload_folder(folder: Path, bucket: str, endpoint: str) -> int:
    """Copy a generated archive into a bucket (bucket keys = relative paths), skipping `_truth/`."""
    client = boto3.client("s3", endpoint_url=endpoint)
    count = 0
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and not relative.startswith("_"):
            client.put_object(Bucket=bucket, Key=relative, Body=path.read_bytes())
            count += 1
    return count


FUZZ_SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
"""How many times more examples the property tests run: 1 in the suite (derandomized, the same examples
every run); `bench/hostile.py --fuzz N` runs them N times longer with fresh random examples."""


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings for a property test that runs `examples` examples in the suite."""
    return settings(
        max_examples=examples * FUZZ_SCALE,
        derandomize=FUZZ_SCALE == 1,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 for the session (`tests/postgres_server.py`): the URL of its
    `postgres` database, as superuser. Skips the tests that need it when PostgreSQL is not installed
    (`scripts/install_postgres.sh` installs it)."""
    from tests.postgres_server import PostgresServer, find_binaries

    bin_dir = find_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl)")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_database(postgres_url: str) -> str:
    """The URL of a new, empty database on the session's server, for one test."""
    from tests.postgres_server import create_database

    return create_database(postgres_url)
