"""The guard on real worker processes: a day of good mail mixed with objects that segfault, abort or exit
the parser, stall it, make it allocate without end, or give rows that cannot be stored. Every good object
becomes exactly the rows it becomes without them, each hostile one is quarantined once with its reason
and what was seen, the run succeeds, and running it again gives the same files (only the seconds and
megabytes measured in two error texts may differ). The live path's per-object outcomes come from the
same guard."""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from pipelines.mail.ingest import IngestResult, ingest_mime
from pipelines.mail.rows import ObjectRows
from pipelines.mail.sandbox import ParseGuard, objects_to_outcomes
from pipelines.mail.workers import Budget
from pipelines.mime.message import ParsedMessage
from pipelines.settings import Settings
from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore
from pipelines.storage.schemas import INBOUND
from pipelines.tenants import TenantRegistry, load_registry
from tests.mail.traps import ABORT, ALLOCATE, EXIT, SEGFAULT, SLEEP, SURROGATE, arm_traps, with_trap

GUARD = ParseGuard(seconds=2.0, memory_mb=128, setup=arm_traps)
EXPECTED = {
    SEGFAULT: ("parse", "parser_crash", "the worker died: killed by signal 11 (SIGSEGV)"),
    ABORT: ("parse", "parser_crash", "the worker died: killed by signal 6 (SIGABRT)"),
    EXIT: ("parse", "parser_crash", "the worker died: exited with status 3"),
    SLEEP: ("parse", "parser_timeout", "over the budget of 2 s; the worker was killed"),
    ALLOCATE: ("parse", "too_large", "over the budget of 128 MB; the worker was killed"),
    SURROGATE: ("rows", "invalid_rows", "messages.subject: UnicodeEncodeError: 'utf-8' codec can't encode"),
}
"""Trap -> the quarantine stage, reason and a part of the error text its object must get."""


@dataclass
class Day:
    good: Path
    """A bucket holding one day of the small archive's inbound mail."""
    hostile: Path
    """The same bucket plus one object per trap (a copy of a good message naming the trap)."""
    day: date
    registry: TenantRegistry
    reference: IngestResult
    reference_lake: Path
    """The good bucket ingested with the settings' guard and no traps."""
    trapped: dict[str, str]
    """Trap -> key of its object."""


@pytest.fixture(scope="module")
def day(small_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Day:
    root = tmp_path_factory.mktemp("guard")
    objects = list(LocalStore(small_archive).list("inbound/"))
    first = Counter(info.day for info in objects).most_common(1)[0][0]
    good, hostile = root / "good", root / "hostile"
    for bucket in (good, hostile):
        (bucket / "inbound").mkdir(parents=True)
        shutil.copy2(small_archive / "tenants.yaml", bucket / "tenants.yaml")
        for info in objects:
            if info.day == first:
                shutil.copy2(small_archive / info.key, bucket / info.key)
    registry = load_registry(str(good / "tenants.yaml"))
    reference_lake = root / "reference"
    reference = ingest_mime(LocalStore(good), Lake(LocalStore(reference_lake)), registry, INBOUND, "inbound/", [first])
    template = Lake(LocalStore(reference_lake)).read_table("messages").column("object_key")[0].as_py()
    trapped = {}
    for trap in EXPECTED:
        key = f"inbound/trap{trap}"
        target = hostile / key
        target.write_bytes(with_trap((good / template).read_bytes(), trap))
        stat = (good / template).stat()
        os.utime(target, (stat.st_atime, stat.st_mtime))  # the same arrival day
        trapped[trap] = key
    return Day(good, hostile, first, registry, reference, reference_lake, trapped)


def ingest_hostile(day: Day, lake: Lake, workers: int) -> IngestResult:
    store = LocalStore(day.hostile)
    return ingest_mime(store, lake, day.registry, INBOUND, "inbound/", [day.day], workers=workers, guard=GUARD)


def files(lake: Path) -> dict[str, bytes]:
    return {p.relative_to(lake).as_posix(): p.read_bytes() for p in sorted(lake.rglob("*.parquet"))}


def test_a_day_with_hostile_objects_is_ingested_whole_and_again_identically(day, tmp_path):
    lake_dir = tmp_path / "lake"
    lake = Lake(LocalStore(lake_dir))
    result = ingest_mime(
        LocalStore(day.hostile), lake, day.registry, INBOUND, "inbound/", [day.day], workers=2, guard=GUARD
    )

    assert result.objects == day.reference.objects + len(EXPECTED)
    assert result.messages == day.reference.messages > 0
    assert result.quarantined == day.reference.quarantined + len(EXPECTED)
    ours, reference = files(lake_dir), files(day.reference_lake)
    for table in ("messages", "recipients", "attachments"):  # every good object's rows, byte for byte
        assert {k: v for k, v in ours.items() if k.startswith(table)} == {
            k: v for k, v in reference.items() if k.startswith(table)
        }

    rows = lake.read_table("quarantine").to_pylist()
    by_key: dict[str, list[dict]] = {}
    for row in rows:
        by_key.setdefault(row["source_key"], []).append(row)
    for trap, (stage, reason, text) in EXPECTED.items():
        [row] = by_key.pop(day.trapped[trap])
        assert (row["stage"], row["reason"]) == (stage, reason), row
        assert text in row["error"], row
        assert row["tenant"] == "_unattributed" and row["date"] == day.day
    expected_rest = Lake(LocalStore(day.reference_lake)).read_table("quarantine").to_pylist()
    key = lambda row: (row["source_key"], row["stage"], row["reason"], row["error"])  # noqa: E731
    assert sorted(map(key, [r for found in by_key.values() for r in found])) == sorted(map(key, expected_rest))

    again = ingest_mime(
        LocalStore(day.hostile), lake, day.registry, INBOUND, "inbound/", [day.day], workers=1, guard=GUARD
    )
    assert again.quarantine_reasons == result.quarantine_reasons
    rerun = files(lake_dir)
    assert rerun.keys() == ours.keys()
    assert {k: v for k, v in rerun.items() if not k.startswith("quarantine/")} == {
        k: v for k, v in ours.items() if not k.startswith("quarantine/")
    }
    seen = lambda row: (row["source_key"], row["stage"], row["reason"], re.sub(r"[0-9.]+", "N", row["error"]))  # noqa: E731
    assert [seen(row) for row in lake.read_table("quarantine").to_pylist()] == [seen(row) for row in rows]


def test_the_live_path_gets_each_object_s_rows_and_parsed_message_or_its_quarantine_row(day):
    store = LocalStore(day.hostile)
    messages = Lake(LocalStore(day.reference_lake)).read_table("messages").to_pylist()
    good = [(row["object_key"], row["tenant_id"]) for row in messages[:4]]
    other = {tenant: next(t for t in day.registry.tenants if t != tenant) for _, tenant in good}
    inbound_of = {tenant_id: t.inbound_addresses[0] for tenant_id, t in day.registry.tenants.items()}
    batch = [(store.info(key), [inbound_of[other[tenant]]]) for key, tenant in good[:2]]
    batch += [(store.info(day.trapped[SEGFAULT]), []), (store.info(day.trapped[SURROGATE]), [])]
    batch += [(store.info(key), []) for key, _ in good[2:]]

    outcomes = objects_to_outcomes(store, day.registry, "inbound/", batch, guard=GUARD, workers=1)

    assert [o.info.key for o in outcomes] == [info.key for info, _ in batch]
    for outcome, (info, recipients) in zip(outcomes[:2] + outcomes[4:], batch[:2] + batch[4:], strict=True):
        assert isinstance(outcome.message, ParsedMessage) and not outcome.rows.quarantine
        expected = dict(good)[info.key]
        if recipients:  # the notification's recipients come first, as the live path needs
            assert (outcome.attribution.tenant_id, outcome.attribution.by) == (other[expected], "notification")
        else:
            assert outcome.attribution.tenant_id == expected
        assert [row["object_key"] for row in outcome.rows.messages] == [info.key]
    crashed, unstorable = outcomes[2], outcomes[3]
    assert crashed.message is None and not crashed.rows.messages
    assert [(r["reason"], r["error"]) for r in crashed.rows.quarantine] == [("parser_crash", EXPECTED[SEGFAULT][2])]
    assert unstorable.message is None and not unstorable.rows.messages
    assert [r["reason"] for r in unstorable.rows.quarantine] == ["invalid_rows"]
    together = ObjectRows()
    for outcome in outcomes:
        together.extend(outcome.rows)
    assert together.tables()["messages"].num_rows == 4  # every row handed back can be stored


def test_the_guard_takes_its_budgets_from_the_settings_and_refuses_none():
    settings = Settings.from_env({"SESLAKE_PARSE_SECONDS": "3.5", "SESLAKE_PARSE_MEMORY_MB": "64"})
    assert ParseGuard.from_settings(settings).budget == Budget(seconds=3.5, memory_mb=64)
    assert ParseGuard.from_settings(Settings.from_env({})).budget == Budget(seconds=20.0, memory_mb=512)
    with pytest.raises(ValueError, match="must be positive"):
        ParseGuard(seconds=0, memory_mb=512)
