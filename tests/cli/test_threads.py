"""`seslake threads`: .eml folders, mbox files, tenants by registry or by envelope mailbox, JSON out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from pipelines.cli.main import main
from pipelines.mail.sandbox import ParseGuard
from pipelines.mime.parse import parse_message
from pipelines.threads.offline import iter_sources, mail_items
from tests.mail.traps import SEGFAULT, SLEEP, arm_traps, with_trap
from tests.threads.evaluation import bcubed
from tests.threads.support_mailbox import SupportMailbox, build_support_mailbox

SESLAKE = str(Path(sys.executable).parent / "seslake")


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[SupportMailbox, Path]:
    box = build_support_mailbox(seed=11, tenants=3, days=21, threads_per_tenant=40)
    dest = tmp_path_factory.mktemp("mailbox")
    box.write(dest)
    return box, dest


def truth_by_message_id(box: SupportMailbox) -> tuple[dict[str, str], dict[str, str]]:
    """Message-ID -> true thread and -> tenant, leaving out ids that several conversations share."""
    threads: dict[str, set[str]] = defaultdict(set)
    tenants: dict[str, str] = {}
    for f in box.files:
        mid = parse_message(f.raw).message_id
        if mid:
            threads[mid].add(f.thread)
            tenants[mid] = f.tenant
    truth = {mid: labels.pop() for mid, labels in threads.items() if len(labels) == 1}
    return truth, tenants


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["threads", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_threads_json_with_the_tenant_registry(mailbox, capsys, monkeypatch):
    box, dest = mailbox
    monkeypatch.setenv("SESLAKE_TENANTS", str(dest / "tenants.yaml"))
    code, out, err = run_cli(["--json", str(dest / "inbound"), str(dest / "outbound")], capsys)
    assert code == 0, err
    mapping = json.loads(out)
    truth, tenants = truth_by_message_id(box)
    assert set(truth) <= set(mapping)
    score = bcubed(mapping, truth)
    assert score.f1 >= 0.99, score
    by_thread: dict[str, set[str]] = defaultdict(set)
    for mid, thread_id in mapping.items():
        by_thread[thread_id].add(tenants[mid])
    assert all(len(t) == 1 for t in by_thread.values()), "a thread spans two tenants"
    assert all(not k.startswith("<") and len(v) == 16 for k, v in mapping.items())


def test_threads_without_a_registry_keeps_envelope_mailboxes_apart(mailbox, capsys, monkeypatch):
    box, dest = mailbox
    monkeypatch.delenv("SESLAKE_TENANTS", raising=False)
    code, out, err = run_cli(["--json", str(dest / "inbound"), str(dest / "outbound")], capsys)
    assert code == 0, err
    mapping = json.loads(out)
    truth, tenants = truth_by_message_id(box)
    by_thread: dict[str, set[str]] = defaultdict(set)
    for mid, thread_id in mapping.items():
        by_thread[thread_id].add(tenants[mid])
    assert all(len(t) == 1 for t in by_thread.values()), "a thread spans two tenants"
    # Case addresses are keyed by tenant, so without a registry none verifies and mail written to one is placed
    # by the other rules only: threads may split (recall), never merge wrongly.
    score = bcubed(mapping, truth)
    assert score.precision == 1.0 and score.f1 >= 0.97, score
    monkeypatch.setenv("SESLAKE_TENANTS", str(dest / "tenants.yaml"))
    code, out, err = run_cli(["--json", str(dest / "inbound"), str(dest / "outbound")], capsys)
    assert code == 0, err
    registry_threads = json.loads(out)
    with_registry: dict[str, set[str]] = defaultdict(set)
    for mid, thread_id in mapping.items():
        with_registry[thread_id].add(registry_threads[mid])
    assert all(len(threads) == 1 for threads in with_registry.values()), "each thread lies within one registry thread"


def test_threads_with_the_registry_keep_strangers_out_of_other_customers_cases(mailbox, capsys, monkeypatch):
    box, dest = mailbox
    monkeypatch.setenv("SESLAKE_TENANTS", str(dest / "tenants.yaml"))
    code, out, err = run_cli(["--json", str(dest / "inbound"), str(dest / "outbound")], capsys)
    assert code == 0, err
    mapping = json.loads(out)
    truth, _ = truth_by_message_id(box)
    labels: dict[str, set[str]] = defaultdict(set)
    for mid, thread_id in mapping.items():
        if mid in truth:
            labels[thread_id].add(truth[mid])
    strangers = [parse_message(f.raw).message_id for f in box.files if f.kind.startswith("stranger_")]
    assert len(strangers) >= 10
    for mid in strangers:
        assert labels[mapping[mid]] == {truth[mid]}, mid


def test_mbox_files_and_mail_without_a_message_id(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SESLAKE_TENANTS", raising=False)
    messages = [
        "From: Ana <ana@example.org>\nTo: list@example.org\nSubject: Hola\nDate: Mon, 12 Oct 2026 10:00:00 +0000\n"
        "Message-ID: <root@example.org>\n\nhola\n",
        "From: Bruno <bruno@example.org>\nTo: list@example.org\nSubject: Re: Hola\n"
        "Date: Mon, 12 Oct 2026 11:00:00 +0000\nMessage-ID: <reply@example.org>\nIn-Reply-To: <root@example.org>\n"
        "References: <root@example.org>\n\n>From the start\nok\n",
        "From: Carla <carla@example.org>\nTo: list@example.org\nSubject: Re: Hola\n"
        "Date: Mon, 12 Oct 2026 12:00:00 +0000\nIn-Reply-To: <reply@example.org>\n\nsin id\n",
    ]
    box = tmp_path / "list.mbox"
    box.write_text("".join(f"From sender@example.org Mon Oct 12 10:00:00 2026\n{m}\n" for m in messages))
    (tmp_path / "single.eml").write_text(
        "From: Dario <dario@example.org>\nTo: list@example.org\nSubject: Otro tema\n"
        "Date: Tue, 13 Oct 2026 09:00:00 +0000\nMessage-ID: <other@example.org>\n\nx\n"
    )
    (tmp_path / ".hidden").write_text("not mail")
    code, out, err = run_cli(["--json", str(tmp_path)], capsys)
    assert code == 0, err
    mapping = json.loads(out)
    synthetic = [k for k in mapping if k.startswith("seslake-sha1-")]
    assert len(synthetic) == 1 and len(synthetic[0]) == len("seslake-sha1-") + 40
    assert mapping["root@example.org"] == mapping["reply@example.org"] == mapping[synthetic[0]]
    assert mapping["other@example.org"] != mapping["root@example.org"]

    code, out, _ = run_cli([str(tmp_path / "single.eml"), str(box)], capsys)
    assert code == 0 and out.strip().endswith("4 messages in 2 threads")


def test_errors_are_one_line(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["--json", str(tmp_path / "missing")], capsys)
    assert code == 2 and "no such file or folder" in err and "Traceback" not in err
    monkeypatch.setenv("SESLAKE_TENANTS", str(tmp_path / "nope.yaml"))
    code, _, err = run_cli([str(tmp_path)], capsys)
    assert code == 2 and "tenant registry not found" in err


def test_the_console_script(mailbox):
    box, dest = mailbox
    env = {k: v for k, v in os.environ.items() if k != "SESLAKE_TENANTS"}
    done = subprocess.run(
        [SESLAKE, "threads", "--json", str(dest / "inbound")], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    mapping = json.loads(done.stdout)
    inbound = sum(1 for f in box.files if f.path.startswith("inbound/"))
    assert 0 < len(mapping) <= inbound


def test_mail_that_crashes_or_stalls_the_parser_is_reported_and_left_out(tmp_path, capsys):
    good = b"From: Ana <ana@example.org>\r\nTo: list@example.org\r\nSubject: Hola\r\nMessage-ID: <good@example.org>\r\n"
    good += b"\r\nhola\r\n"
    (tmp_path / "good.eml").write_bytes(good)
    (tmp_path / "crash.eml").write_bytes(with_trap(good.replace(b"good@", b"crash@"), SEGFAULT))
    (tmp_path / "stall.eml").write_bytes(with_trap(good.replace(b"good@", b"stall@"), SLEEP))
    (tmp_path / "junk.eml").write_bytes(b"\x00\x01 not mail at all")
    guard = ParseGuard(seconds=1.0, memory_mb=256, setup=arm_traps)
    items, keys = mail_items(iter_sources([tmp_path]), guard=guard)
    assert keys == ["good@example.org"] and [item.message.subject for item in items] == ["Hola"]
    err = capsys.readouterr().err
    crash = f"seslake: skipping {tmp_path / 'crash.eml'}: parser_crash: the worker died: killed by signal 11 (SIGSEGV)"
    assert crash in err.splitlines()
    assert f"seslake: skipping {tmp_path / 'stall.eml'}: parser_timeout: ran " in err
    assert f"seslake: skipping {tmp_path / 'junk.eml'}: not_mail: " in err
