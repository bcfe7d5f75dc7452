"""Hostile Firehose files never stop the events run: each one alone and all of them among the generated
archive's files, on a folder and on moto S3. Every good event is ingested exactly once, every bad file
or line is quarantined once with its reason, the ledger takes every file dealt with, and a second run
reads nothing and changes nothing."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.events import ingest as ingest_module
from pipelines.events.ingest import MAX_BAD_LINES_PER_FILE, ingest_events, read_ledger
from pipelines.events.lines import MAX_FILE_BYTES, MAX_LINE_BYTES
from pipelines.events.normalize import parse_lines
from pipelines.generator import hostile_events as hostile
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore, S3Store
from pipelines.tenants import TenantRegistry, load_registry
from tests.conftest import upload_folder

PREFIX = "events/2026/03/01/00/"
KINDS = (
    "corrupt.gz", "truncated.gz", "bomb.gz", "one-150-mb-line.gz", "enormous-line", "non-utf8", "bad-json",
    "wrong-shapes", "deep-nesting", "huge-numbers", "lone-surrogates", "nul-bytes.gz", "too-many-bad-lines",
)  # fmt: skip


@dataclass(frozen=True)
class HostileFile:
    name: str
    data: bytes
    events: list[tuple[int, bytes]]
    """(line number, line) of the lines that must become events."""
    quarantine: list[tuple[int | None, str]]
    """(line number, reason) of every quarantine row the file must give."""

    @property
    def key(self) -> str:
        return PREFIX + self.name


def good_lines(tenant: str, first_seed: int, count: int) -> list[bytes]:
    return [hostile.event_line(seed, tenant=tenant) for seed in range(first_seed, first_seed + count)]


def line_file(name: str, tenant: str, seed: int, bad: list[hostile.HostileLine]) -> HostileFile:
    """Hostile lines between good ones: good, bad, good, bad, …, good (gzip when `name` ends in .gz)."""
    good = good_lines(tenant, seed, len(bad) + 1)
    lines = [line for pair in zip(good, [b.line for b in bad], strict=False) for line in pair] + [good[-1]]
    events = [(2 * i + 1, line) for i, line in enumerate(good)]
    events += [(2 * i + 2, b.line) for i, b in enumerate(bad) if b.expected is None]
    quarantine = [(2 * i + 2, b.expected) for i, b in enumerate(bad) if b.expected is not None]
    data = hostile.ndjson(lines)
    return HostileFile(name, hostile.gzip_bytes(data) if name.endswith(".gz") else data, sorted(events), quarantine)


def hostile_files(tenant: str) -> list[HostileFile]:
    """One file of each hostile kind, with the events and quarantine rows it must give."""
    template = hostile.event(90, tenant=tenant)
    good = good_lines(tenant, 10_000, 30)  # each file's good lines are its own (else the dedupe keeps one)
    many_bad = [hostile.HostileLine(b"{" * (n % 7 + 1), "bad_json") for n in range(MAX_BAD_LINES_PER_FILE + 250)]
    many_bad_file = line_file("too-many-bad-lines", tenant, 30_000, many_bad)
    found = [
        HostileFile(
            "corrupt.gz",
            hostile.corrupt_gzip(hostile.ndjson(good_lines(tenant, 40_000, 400))),
            [],
            [(None, "bad_compression")],
        ),
        HostileFile(
            "truncated.gz",
            hostile.truncated_gzip(hostile.ndjson(good_lines(tenant, 20_000, 430)), keep=0.1),
            list(enumerate(good_lines(tenant, 20_000, 30), start=1)),  # at least these survive the cut
            [],  # checked apart: one truncated_compression row at the line in progress
        ),
        HostileFile(
            "bomb.gz",
            hostile.gzip_bomb(MAX_FILE_BYTES + (4 << 20), before=good[:3]),
            [(1, good[0]), (2, good[1]), (3, good[2])],
            [(4, "file_too_large")],
        ),
        HostileFile(
            "one-150-mb-line.gz",
            hostile.gzip_bomb(150_000_000, fill=b"x", before=good[3:5]),
            [(1, good[3]), (2, good[4])],
            [(3, "line_too_long")],
        ),
        HostileFile(
            "enormous-line",
            hostile.enormous_line_file(2 * MAX_LINE_BYTES, before=good[5:8], after=good[8:11]),
            [(1, good[5]), (2, good[6]), (3, good[7]), (5, good[8]), (6, good[9]), (7, good[10])],
            [(4, "line_too_long")],
        ),
        line_file("non-utf8", tenant, 200, hostile.non_utf8_lines(template)),
        line_file("bad-json", tenant, 300, hostile.bad_json_lines(template)),
        line_file("wrong-shapes", tenant, 400, hostile.wrong_shape_lines(template)),
        line_file(
            "deep-nesting", tenant, 500, [hostile.deep_json_line(d, template=template) for d in (300, 1022, 5000)]
        ),
        line_file("huge-numbers", tenant, 550, hostile.huge_number_lines(400, template=template)),
        line_file("lone-surrogates", tenant, 600, hostile.lone_surrogate_lines(template)),
        line_file("nul-bytes.gz", tenant, 650, hostile.nul_byte_lines(template)),
        HostileFile(
            many_bad_file.name,
            many_bad_file.data,
            many_bad_file.events,
            many_bad_file.quarantine[:MAX_BAD_LINES_PER_FILE]
            + [(2 * MAX_BAD_LINES_PER_FILE + 2, "too_many_bad_lines")],
        ),
    ]
    assert tuple(file.name for file in found) == KINDS
    return found


def write(folder: Path, files: list[HostileFile]) -> None:
    for file in files:
        path = folder / file.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.data)


def contents(lake: Lake) -> tuple[list[tuple], list[tuple]]:
    """The lake's events as (key, line, fingerprint, recipient) and its event quarantine as (key, line, reason)."""
    events = sorted(
        (r["source_key"], r["line_number"], r["fingerprint"], r["recipient"])
        for r in lake.read_table("events").to_pylist()
    )
    rows = lake.read_table("quarantine").to_pylist()
    quarantine = sorted((r["source_key"], r["line_number"] or 0, r["reason"]) for r in rows if r["source"] == "events")
    return events, quarantine


def expected_events(file: HostileFile, registry: TenantRegistry) -> list[tuple]:
    rows, bad = parse_lines(file.events, registry)
    assert not bad
    return sorted((file.key, r["line_number"], r["fingerprint"], r["recipient"]) for r in rows)


def check_file(file: HostileFile, found: tuple[list[tuple], list[tuple]], registry: TenantRegistry) -> None:
    """The file's events and quarantine rows among `contents(lake)` are exactly the expected ones."""
    events = [row for row in found[0] if row[0] == file.key]
    quarantine = [row for row in found[1] if row[0] == file.key]
    if file.name == "truncated.gz":  # the cut falls where it falls: the lines before it, then one row there
        [(_, stopped_at, reason)] = quarantine
        assert reason == "truncated_compression" and stopped_at > len(file.events)
        assert [row[1] for row in events] == list(range(1, stopped_at))
        assert events[: len(file.events)] == expected_events(file, registry)
        return
    assert events == expected_events(file, registry)
    assert quarantine == sorted((file.key, line or 0, reason) for line, reason in file.quarantine)


@pytest.fixture(scope="module")
def registry(small_archive: Path) -> TenantRegistry:
    return load_registry(str(small_archive / "tenants.yaml"))


@pytest.fixture(scope="module")
def files(registry: TenantRegistry) -> list[HostileFile]:
    return hostile_files(sorted(registry.tenants)[0])


@pytest.fixture(scope="module")
def baseline(small_archive: Path, registry: TenantRegistry, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The archive's good files alone, ingested."""
    lake = Lake(LocalStore(tmp_path_factory.mktemp("baseline")))
    ingest_events(LocalStore(small_archive), lake, registry, "events/")
    return lake


@pytest.mark.parametrize("kind", KINDS)
def test_each_hostile_file_alone(kind, files, registry, tmp_path):
    file = files[KINDS.index(kind)]
    write(tmp_path / "bucket", [file])
    lake = Lake(LocalStore(tmp_path / "lake"))
    result = ingest_events(LocalStore(tmp_path / "bucket"), lake, registry, "events/")
    found = contents(lake)
    check_file(file, found, registry)
    assert read_ledger(lake) == {file.key: (tmp_path / "bucket" / file.key).stat().st_size}
    assert result.files_failed == 0
    again = ingest_events(LocalStore(tmp_path / "bucket"), lake, registry, "events/")
    assert again.files_read == 0 and again.rows_new == 0
    assert contents(lake) == found


def test_hostile_files_among_good_ones_on_s3(
    small_archive, files, registry, baseline, moto_endpoint, s3_bucket, tmp_path
):
    """One run over the archive with every hostile file mixed in: the good files give exactly what they
    give alone, each hostile file gives its own rows, the ledger takes every file, and a second run
    changes nothing."""
    upload_folder(small_archive, s3_bucket, moto_endpoint)
    write(tmp_path / "hostile", files)
    upload_folder(tmp_path / "hostile", s3_bucket, moto_endpoint)
    store = S3Store(f"s3://{s3_bucket}", moto_endpoint)
    lake = Lake(S3Store(f"s3://{s3_bucket}/lake", moto_endpoint))
    result = ingest_events(store, lake, registry, "events/")

    found = contents(lake)
    hostile_keys = {file.key for file in files}
    assert [row for row in found[0] if row[0] not in hostile_keys] == contents(baseline)[0]
    assert [row for row in found[1] if row[0] not in hostile_keys] == contents(baseline)[1]
    for file in files:
        check_file(file, found, registry)
    assert len(found[0]) == len(set(found[0]))
    listed = {info.key: info.size for info in store.list("events/")}
    assert read_ledger(lake) == listed and result.files_read == len(listed)
    assert result.files_damaged == 3  # the corrupt, truncated and bomb files, no other

    again = ingest_events(store, lake, registry, "events/")
    assert (again.files_read, again.rows_new, again.lines_bad) == (0, 0, 0)
    assert contents(lake) == found


def test_incremental_runs_over_hostile_files_equal_a_full_rebuild(small_archive, files, registry, tmp_path):
    """Half the files (hostile ones among them) in a first run, the rest in a second: the same lake as
    one full rebuild, so what a hostile file gives does not depend on what it was read with."""
    source = tmp_path / "bucket"
    shutil.copytree(small_archive / "events", source / "events", copy_function=shutil.copy2)
    write(source, files)
    later = [info.key for info in LocalStore(source).list("events/")][1::2]
    held = tmp_path / "held"
    for key in later:
        (held / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).rename(held / key)
    incremental = Lake(LocalStore(tmp_path / "incremental"))
    ingest_events(LocalStore(source), incremental, registry, "events/")
    for key in later:
        (held / key).rename(source / key)
    assert ingest_events(LocalStore(source), incremental, registry, "events/").files_read == len(later)

    rebuilt = Lake(LocalStore(tmp_path / "rebuilt"))
    ingest_events(LocalStore(source), rebuilt, registry, "events/", full_rebuild=True)
    found = contents(incremental)
    assert found == contents(rebuilt)
    for file in files:
        check_file(file, found, registry)


class FlakyStore(LocalStore):
    """A folder whose `get` and `download` fail for the keys in `failing`."""

    def __init__(self, root: Path, failing: set[str]) -> None:
        super().__init__(root)
        self.failing = failing

    def get(self, key: str) -> bytes:
        if key in self.failing:
            raise ConnectionResetError(f"connection reset reading {key}")
        return super().get(key)

    def download(self, key: str, path: Path) -> None:
        if key in self.failing:
            raise TimeoutError(f"timed out downloading {key}")
        super().download(key, path)


def test_a_failed_fetch_is_quarantined_left_out_of_the_ledger_and_read_next_time(
    small_archive, registry, baseline, tmp_path
):
    source = tmp_path / "bucket"
    shutil.copytree(small_archive / "events", source / "events", copy_function=shutil.copy2)
    keys = [info.key for info in LocalStore(source).list("events/")]
    failing = {keys[0], keys[len(keys) // 2]}
    lake = Lake(LocalStore(tmp_path / "lake"))

    first = ingest_events(FlakyStore(source, failing), lake, registry, "events/")
    assert first.files_failed == 2
    assert set(read_ledger(lake)) == set(keys) - failing
    fetch_rows = [r for r in lake.read_table("quarantine").to_pylist() if r["stage"] == "fetch"]
    assert sorted((r["source_key"], r["reason"]) for r in fetch_rows) == sorted((k, "read_failed") for k in failing)
    assert all("ConnectionResetError" in r["error"] and r["line_number"] is None for r in fetch_rows)
    assert not {row[0] for row in contents(lake)[0]} & failing

    second = ingest_events(FlakyStore(source, set()), lake, registry, "events/")
    assert second.files_read == 2 and second.files_failed == 0
    assert set(read_ledger(lake)) == set(keys)
    found, expected = contents(lake), contents(baseline)
    assert found[0] == expected[0]  # nothing lost, nothing twice
    assert found[1] == expected[1]  # the fetch rows are gone


def test_objects_above_the_in_memory_size_are_streamed_from_a_temporary_file(files, registry, tmp_path, monkeypatch):
    from pipelines.events import batches

    monkeypatch.setattr(batches, "IN_MEMORY_OBJECT_BYTES", 0)
    chosen = [file for file in files if file.name in ("bomb.gz", "non-utf8", "corrupt.gz")]
    write(tmp_path / "bucket", chosen)
    lake = Lake(LocalStore(tmp_path / "lake"))
    ingest_events(FlakyStore(tmp_path / "bucket", set()), lake, registry, "events/")
    found = contents(lake)
    for file in chosen:
        check_file(file, found, registry)


def test_duckdb_failing_on_a_batch_leaves_its_lines_to_the_reference(
    small_archive, files, registry, baseline, tmp_path, monkeypatch
):
    def failing(*args: object, **kwargs: object) -> None:
        raise duckdb.OutOfMemoryException("out of memory on purpose")

    monkeypatch.setattr(ingest_module, "normalize_batch", failing)
    lake = Lake(LocalStore(tmp_path / "lake"))
    ingest_events(LocalStore(small_archive), lake, registry, "events/")
    assert contents(lake) == contents(baseline)


def test_an_object_listed_over_the_size_cap_is_quarantined_without_being_fetched(registry, tmp_path):
    key = PREFIX + "enormous-object"
    path = tmp_path / "bucket" / key
    path.parent.mkdir(parents=True)
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: listed at that size, no disk used
    store = FlakyStore(tmp_path / "bucket", {key})  # a fetch would fail, and show as files_failed
    lake = Lake(LocalStore(tmp_path / "lake"))
    result = ingest_events(store, lake, registry, "events/")
    assert (result.files_failed, result.files_damaged) == (0, 1)
    assert contents(lake) == ([], [(key, 0, "file_too_large")])
    assert read_ledger(lake) == {key: MAX_FILE_BYTES + 1}
