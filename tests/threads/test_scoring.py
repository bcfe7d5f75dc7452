"""How good the threads are: against notmuch on real mailing-list mail, and against the truth of a
generated support mailbox (with the references-only and subject-only threaders for comparison).

Run with `-s` to see the scores. The real mail (notmuch's own test corpora, from Debian's notmuch source
package) and notmuch are fetched by `scripts/fetch_thread_corpus.sh` into a cache outside the
repository; without them the notmuch test skips, except under CI (CI=true), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from pipelines.tenants import parse_registry
from pipelines.threads.engine import ThreadColumns, ThreadState
from pipelines.threads.inputs import columns_from_parsed
from pipelines.threads.offline import NO_ID_PREFIX, mail_items
from tests.threads.evaluation import BCubed, bcubed, references_only, subject_only
from tests.threads.support_mailbox import STRANGERS_PER_TENANT, SupportMailbox, build_support_mailbox

SESLAKE = str(Path(sys.executable).parent / "seslake")
CORPUS = Path(os.environ.get("SESLAKE_THREAD_CORPUS") or Path(tempfile.gettempdir()) / "seslake-thread-corpus")
REAL_LISTS = ("default", "lkml")
"""notmuch's corpora of real mailing-list mail (the notmuch list, and LKML and neighbours via gmane)."""
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_corpus() -> None:
    missing = [
        name
        for name, ok in (("the corpus", (CORPUS / ".complete").is_file()), ("notmuch", shutil.which("notmuch")))
        if not ok
    ]
    if missing:
        reason = f"{' and '.join(missing)} missing ({CORPUS}): run scripts/fetch_thread_corpus.sh"
        if UNDER_CI:
            pytest.fail(reason)
        pytest.skip(reason)


def notmuch_threads(mail_root: Path, work: Path) -> dict[str, str]:
    """Message-ID -> notmuch's thread, for every message under `mail_root`."""
    config = work / "notmuch-config"
    config.write_text(
        f"[database]\npath={mail_root}\n[user]\nname=Scorer\nprimary_email=scorer@example.org\n"
        "[new]\ntags=inbox\n[maildir]\nsynchronize_flags=false\n"
    )
    env = {**os.environ, "NOTMUCH_CONFIG": str(config)}
    subprocess.run(["notmuch", "new", "--quiet"], env=env, check=True, capture_output=True, timeout=120)
    shown = subprocess.run(
        ["notmuch", "show", "--format=json", "--body=false", "--entire-thread=false", "*"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    threads: dict[str, str] = {}

    def walk(nodes: list, label: str) -> None:
        for message, replies in nodes:
            threads[message["id"]] = label
            walk(replies, label)

    for n, thread in enumerate(json.loads(shown.stdout)):
        walk(thread, f"notmuch-{n}")
    return threads


def seslake_threads(folders: list[Path], *options: str) -> dict[str, str]:
    done = subprocess.run(
        [SESLAKE, "threads", "--json", *options, *map(str, folders)],
        env={k: v for k, v in os.environ.items() if k != "SESLAKE_TENANTS"},
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return {
        ("notmuch-sha1-" + k.removeprefix(NO_ID_PREFIX) if k.startswith(NO_ID_PREFIX) else k): v
        for k, v in json.loads(done.stdout).items()
    }


def test_threads_agree_with_notmuch_on_real_mailing_list_mail(tmp_path):
    require_corpus()
    mail_root = tmp_path / "mail"
    for name in REAL_LISTS:
        shutil.copytree(CORPUS / name, mail_root / name)
    theirs = notmuch_threads(mail_root, tmp_path)
    folders = [mail_root / name for name in REAL_LISTS]
    ours = seslake_threads(folders, "--mailbox", "list")
    score = bcubed(ours, theirs)
    per_envelope = bcubed(seslake_threads(folders), theirs)
    print(
        f"\nvs notmuch on {score.items} real mailing-list messages in {len(set(theirs.values()))} notmuch threads: "
        f"B-cubed P={score.precision:.4f} R={score.recall:.4f} F1={score.f1:.4f} as one mailbox; "
        f"F1={per_envelope.f1:.4f} with each Delivered-To list as its own mailbox (the default without a registry)"
    )
    assert score.items == len(theirs) >= 200
    assert score.f1 >= 0.99


def test_threads_agree_with_notmuch_on_its_whole_test_corpus(tmp_path):
    """Every corpus notmuch tests itself with, the hand-made threading, loop and duplicate cases included."""
    require_corpus()
    mail_root = tmp_path / "mail"
    shutil.copytree(CORPUS, mail_root, ignore=shutil.ignore_patterns(".complete"))
    theirs = notmuch_threads(mail_root, tmp_path)
    score = bcubed(seslake_threads([mail_root], "--mailbox", "list"), theirs)
    print(f"\nvs notmuch on its whole corpus ({score.items} messages): F1={score.f1:.4f}")
    assert score.f1 >= 0.99


@pytest.fixture(scope="module")
def mailbox() -> SupportMailbox:
    return build_support_mailbox(seed=7)


@pytest.fixture(scope="module")
def support(mailbox: SupportMailbox) -> tuple[ThreadColumns, list[str], list[tuple[str, str]]]:
    """The generated mailbox parsed and placed exactly as `seslake threads` does with the registry."""
    box = mailbox
    registry = parse_registry(box.registry.decode())
    items, _ = mail_items(((f.path, f.raw) for f in box.files), registry)
    assert len(items) == len(box.files)
    return columns_from_parsed(items, registry.inbound_domains), [f.thread for f in box.files], box.must_not_merge


def wrong_merges(predicted: list[str], truth: list[str], pairs: list[tuple[str, str]]) -> int:
    threads: dict[str, set[str]] = defaultdict(set)
    for p, t in zip(predicted, truth, strict=True):
        threads[t].add(p)
    return sum(1 for a, b in pairs if threads[a] & threads[b])


def score(predicted: list[str], truth: list[str]) -> BCubed:
    return bcubed(dict(enumerate(predicted)), dict(enumerate(truth)))


def test_support_mailbox_scores(support):
    columns, truth, pairs = support
    ours = ThreadState().thread(columns).thread_ids
    results = {
        "seslake": (score(ours, truth), wrong_merges(ours, truth, pairs)),
        "references only": (score(refs := references_only(columns), truth), wrong_merges(refs, truth, pairs)),
        "subject only": (score(subj := subject_only(columns), truth), wrong_merges(subj, truth, pairs)),
    }
    print(
        f"\nsupport mailbox: {len(truth)} messages, {len(set(truth))} conversations, {len(pairs)} must-not-merge pairs"
    )
    for name, (s, wrong) in results.items():
        print(f"  {name:<16} P={s.precision:.4f} R={s.recall:.4f} F1={s.f1:.4f} wrong merges={wrong}")
    assert results["seslake"][0].f1 >= 0.99
    assert results["seslake"][1] == 0
    assert results["references only"][0].f1 < 0.95, "the mailbox should need more than references"
    assert results["subject only"][0].f1 < results["seslake"][0].f1


@pytest.mark.parametrize(
    "rule, blank",
    [
        ("SES ids", {"ses_message_id": None}),
        ("Thread-Index", {"thread_index": None}),
        ("tracking addresses", {"tracking": None}),
        ("authentication verdicts", {"spf_verdict": None, "dkim_verdict": None, "dmarc_verdict": None}),
        ("subject fallback", {"subject_marked": False}),
        ("address junk in In-Reply-To", {"addresses": (), "in_reply_to": None}),
        ("duplicate-id policy", {"from_address": None, "sent_at": None}),
        ("counterparties", {"participants": ("someone",)}),
    ],
)
def test_every_rule_is_needed_in_the_support_mailbox(support, rule, blank):
    """Switching one rule off (by blanking what it reads) costs F1 or causes wrong merges."""
    columns, truth, pairs = support
    crippled = ThreadColumns(**{name: list(getattr(columns, name)) for name in ThreadColumns.__slots__})
    for name, value in blank.items():
        setattr(crippled, name, [value] * len(crippled))
    ids = ThreadState().thread(crippled).thread_ids
    full = score(ThreadState().thread(columns).thread_ids, truth).f1
    assert score(ids, truth).f1 < full or wrong_merges(ids, truth, pairs) > 0, rule


def test_no_stranger_joins_another_customers_case(mailbox, support):
    """Every stranger's attempt (forged sender with the case's subject, case address and Thread-Index; guessed or
    forged case address; a Reply-To claim before our answer) stays in a thread of its own."""
    columns, truth, _ = support
    ids = ThreadState().thread(columns).thread_ids
    kinds = Counter(f.kind for f in mailbox.files if f.kind.startswith("stranger_"))
    assert set(kinds) == {f"stranger_{kind}" for kind in STRANGERS_PER_TENANT}, kinds
    members: dict[str, set[str]] = defaultdict(set)
    for thread_id, label in zip(ids, truth, strict=True):
        members[thread_id].add(label)
    for f, thread_id in zip(mailbox.files, ids, strict=True):
        if f.kind.startswith("stranger_"):
            assert members[thread_id] == {f.thread}, (f.kind, f.thread, members[thread_id])
