"""Thread reconstruction speed against a plain union-find over the same id links, in the same run, and
the cost of one incremental day through the keyed state store against a small and a 10x larger state.

    .venv/bin/python bench/threads.py [--messages 1000000] [--day 30000] [--seed 7] [--shape support|notmuch|all]
        [--repeats 3]

Link data is generated in memory from the seed in arrival order (about 30,000 messages a day over 50
tenants), in one of two shapes (`SHAPES`):

- support (~3.7 references per message): conversations of customers and agents (a heavy tail of long ones),
  References chains capped at 12 ids, Outlook replies with In-Reply-To only or just a Thread-Index, replies
  that lost their headers (subject fallback), tracking Reply-To addresses, agent sends whose archived
  Message-ID SES replaced, first messages missing from the archive, copies and clashing ids, address junk
  in In-Reply-To;
- notmuch (~2.2 references per message): a mailing-list archive like notmuch's test corpora: inbound mail
  only, shorter threads and References, few Outlook replies, no tracking addresses.

Each phase runs in its own child process (which regenerates the data, untimed) so its peak memory (max
RSS) is its own:

- union_find: the baseline, a plain union-find (dict of ids, path halving) over each message's
  Message-ID and its References/In-Reply-To ids;
- seslake: `ThreadState.thread` over the same messages, then one more day threaded incrementally
  against that state in memory, the whole state saved to Parquet and loaded back, and the same messages
  threaded in one call to check that day-by-day and all-at-once give the same thread ids;
- store (run for a state of --messages/10 and of --messages): the state written whole to the SQLite store
  (`pipelines.threads.state_store`), then one day threaded as `thread_lake` does it: the part of the state
  the day reaches loaded by key, threaded, and what changed written back; checked against one call.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.threads.engine import ThreadColumns  # noqa: E402

TENANTS = 50
PER_DAY = 30_000
T0 = 1_791_763_200.0


@dataclass(frozen=True)
class Shape:
    """How a generated archive looks: how often a message opens a thread, how long threads run, how many
    ids References keeps, and which soft-rule situations occur."""

    new_thread: float
    long_share: float
    short_rate: float
    references_kept: int
    outlook_share: float
    tracking_share: float
    answers: bool
    """Every other message of a thread is our answer (outbound, with an SES id)."""


SHAPES = {
    # a support inbox: customers and agents alternate, long tails, Outlook and tracking addresses (~3.7 refs)
    "support": Shape(0.21, 0.08, 0.3, 12, 0.25, 0.3, True),
    # a mailing-list archive like notmuch's corpora: inbound only, shorter threads, shorter References (~2.2)
    "notmuch": Shape(0.27, 0.04, 0.3, 6, 0.05, 0.0, False),
}


def generate(total: int, seed: int, shape: str = "support") -> ThreadColumns:
    """`total` messages in arrival order, shaped like `SHAPES[shape]` (deterministic for a seed)."""
    form = SHAPES[shape]
    rng = random.Random(f"seslake/bench-threads/{seed}" + ("" if shape == "support" else f"/{shape}"))
    cols = ThreadColumns()
    vocabulary = [f"topic {k} {rng.choice(('factura', 'pedido', 'envío', 'reclamo', 'cobrança'))}" for k in range(3000)]
    open_threads: list[dict] = []
    serial = 0

    def new_thread() -> dict:
        nonlocal serial
        serial += 1
        tenant = f"t{rng.randrange(TENANTS):02d}"
        long_ = rng.random() < form.long_share
        return {
            "tenant": tenant,
            "public": f"info@{tenant}.example.com",
            "customer": f"c{rng.getrandbits(40):x}@mail{rng.randrange(30)}.example.net",
            "subject": rng.choice(vocabulary) if rng.random() < 0.3 else f"{rng.choice(vocabulary)} {serial}",
            "left": rng.randrange(15, 70) if long_ else 1 + int(rng.expovariate(form.short_rate)),
            "chain": [],
            "outlook": rng.random() < form.outlook_share,
            "guid": rng.randbytes(16),
            "tracking": f"case-{serial:x}@ses.omnibrein.com" if rng.random() < form.tracking_share else None,
            "lost": rng.random() < 0.03,
            "n": 0,
        }

    i = 0
    while i < total:
        if not open_threads or rng.random() < form.new_thread:
            thread = new_thread()
            thread["slot"] = len(open_threads)
            open_threads.append(thread)
        else:
            thread = open_threads[len(open_threads) - 1 - min(int(rng.expovariate(0.02)), len(open_threads) - 1)]
        ts = T0 + i * 86400 / PER_DAY + rng.random()
        outbound = form.answers and thread["n"] % 2 == 1
        chain = thread["chain"]
        refs: list[str] = list(chain[-form.references_kept :])
        irt = f"<{chain[-1]}>" if chain else None
        tracking: list[str] | None = None
        thread_index = None
        marked = bool(chain)
        if outbound:
            ses = f"0100{int(ts * 1000):012x}-{rng.getrandbits(64):016x}-000000"
            wire = f"{ses}@email.amazonses.com"
            mid = wire if rng.random() < 0.5 else f"{rng.getrandbits(64):016x}@reply.omnibrein.com"
            sender, participants = thread["public"], (thread["customer"],)
            tracking = [thread["tracking"]] if thread["tracking"] else None
        else:
            ses, wire = None, None
            mid = f"{rng.getrandbits(72):018x}@mail.example.net"
            sender, participants = thread["customer"], (thread["customer"],)
            if chain:
                r = rng.random()
                if thread["outlook"]:
                    thread_index = base64.b64encode(b"\x01" + bytes(5) + thread["guid"] + bytes(5)).decode()
                    if r < 0.65:
                        refs = [chain[-1]]
                    elif r < 0.85:
                        refs, irt = [], None
                elif r < 0.05:
                    refs, irt = [], None  # lost its headers: subject fallback
                elif r < 0.07 and thread["tracking"]:
                    refs, irt, tracking, marked = [], None, [thread["tracking"]], False
                elif r < 0.08:
                    refs, irt = [thread["public"]], f"<{thread['public']}>"  # address junk
            elif thread["outlook"]:
                thread_index = base64.b64encode(b"\x01" + bytes(5) + thread["guid"]).decode()
        copies = 2 if rng.random() < 0.005 else 1
        for _ in range(copies if not (thread["lost"] and thread["n"] == 0) else 0):
            cols.mailbox.append(thread["tenant"])
            cols.row_key.append(f"{i:08d}")
            cols.message_id.append(mid)
            cols.ses_message_id.append(ses)
            cols.reference_ids.append(refs)
            cols.in_reply_to.append(irt)
            cols.thread_index.append(thread_index)
            cols.tracking.append(tracking)
            cols.subject.append(thread["subject"])
            cols.subject_marked.append(marked)
            cols.from_address.append(sender)
            cols.participants.append(participants)
            cols.addresses.append((sender, thread["customer"] if outbound else thread["public"]))
            cols.sent_at.append(ts)
            cols.arrived_at.append(ts)
            cols.outbound.append(outbound)
            verdict = None if outbound else "pass"
            cols.spf_verdict.append(verdict)
            cols.dkim_verdict.append(verdict)
            cols.dmarc_verdict.append(verdict)
            i += 1
        chain.append(wire or mid)
        thread["n"] += 1
        thread["left"] -= 1
        if thread["left"] <= 0:  # swap-remove: the list stays roughly in order of opening
            last = open_threads.pop()
            if last is not thread:
                last["slot"] = thread["slot"]
                open_threads[thread["slot"]] = last
    return _slice(cols, 0, total)


def _slice(cols: ThreadColumns, start: int, stop: int) -> ThreadColumns:
    return ThreadColumns(**{name: getattr(cols, name)[start:stop] for name in ThreadColumns.__slots__})


def plain_union_find(cols: ThreadColumns) -> list[str]:
    """The baseline: one union-find over every Message-ID and the ids it references."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        p = parent.setdefault(x, x)
        while p != x:
            g = parent[p]
            parent[x] = g
            x, p = p, g
        return x

    for mid, key, refs in zip(cols.message_id, cols.row_key, cols.reference_ids, strict=True):
        root = find(mid or key)
        for ref in refs or ():
            other = find(ref)
            if other != root:
                parent[other] = root
    return [find(mid or key) for mid, key in zip(cols.message_id, cols.row_key, strict=True)]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_union_find(total: int, day: int, seed: int, shape: str, repeats: int) -> dict:
    cols = _slice(generate(total + day, seed, shape), 0, total)
    data_mb = _rss_mb()
    seconds = float("inf")
    for _ in range(repeats):  # the best of several runs: the least disturbed by other work on the machine
        started = time.perf_counter()
        groups = plain_union_find(cols)
        seconds = min(seconds, time.perf_counter() - started)
    return {
        "seconds": seconds,
        "threads": len(set(groups)),
        "messages": len(cols),
        "references": sum(len(r or ()) for r in cols.reference_ids),
        "distinct_ids": len({*(m for m in cols.message_id if m), *(r for rs in cols.reference_ids for r in rs or ())}),
        "data_mb": data_mb,
        "peak_mb": _rss_mb(),
    }


def phase_seslake(total: int, day: int, seed: int, shape: str, repeats: int) -> dict:
    from pipelines.threads.engine import ThreadState

    everything = generate(total + day, seed, shape)
    bulk, extra = _slice(everything, 0, total), _slice(everything, total, total + day)
    data_mb = _rss_mb()
    full_seconds = float("inf")
    for _ in range(repeats):  # the best of several runs, as for the baseline
        state = ThreadState()
        started = time.perf_counter()
        first = state.thread(bulk)
        full_seconds = min(full_seconds, time.perf_counter() - started)
    full_peak = _rss_mb()
    started = time.perf_counter()
    second = state.thread(extra)
    day_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        state.save(folder)
        save_seconds = time.perf_counter() - started
        state_mb = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6
        del state
        started = time.perf_counter()
        loaded = ThreadState.load(folder)
        load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = loaded.thread(extra)
    day_after_load_seconds = time.perf_counter() - started
    whole = ThreadState().thread(everything)
    same = whole.thread_ids == first.thread_ids + second.thread_ids and again.thread_ids == second.thread_ids
    renamed_rows = sum(1 for t in first.thread_ids if t in second.renamed)
    return {
        "seconds": full_seconds,
        "threads": len(set(first.thread_ids)),
        "day_seconds": day_seconds,
        "day_after_load_seconds": day_after_load_seconds,
        "day_threads_renamed": len(second.renamed),
        "day_rows_renamed": renamed_rows,
        "save_seconds": save_seconds,
        "load_seconds": load_seconds,
        "state_mb": state_mb,
        "incremental_equals_batch": same,
        "data_mb": data_mb,
        "peak_mb": full_peak,
        "peak_mb_all": _rss_mb(),
    }


def phase_store(total: int, day: int, seed: int, shape: str, repeats: int) -> dict:
    """One day threaded through the SQLite state store (partial load, thread, save of what changed) against a
    saved state of `total` messages, checked against threading everything in one call."""
    from pipelines.threads.engine import ThreadState, reachable_keys
    from pipelines.threads.state_store import StoreMeta, ThreadStateStore

    everything = generate(total + day, seed, shape)
    bulk, extra = _slice(everything, 0, total), _slice(everything, total, total + day)
    state = ThreadState()
    first = state.thread(bulk)
    with tempfile.TemporaryDirectory() as folder:
        store = ThreadStateStore(Path(folder) / "threads.sqlite")
        latest = max(bulk.arrived_at)
        started = time.perf_counter()
        store.replace(state, StoreMeta("bench", None, latest), {}, {})
        replace_seconds = time.perf_counter() - started
        state_mb = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6
        del state
        store.close()
        runs = []
        for attempt in range(repeats):  # each on a fresh copy of the saved state; the best one counts
            copy = Path(folder) / f"day-{attempt}.sqlite"
            shutil.copy(Path(folder) / "threads.sqlite", copy)
            day_store = ThreadStateStore(copy)
            cpu_started = time.process_time()
            started = time.perf_counter()
            meta = day_store.meta()
            with day_store.snapshot():
                partial = day_store.load(reachable_keys(extra), meta)
            load_seconds = time.perf_counter() - started
            started = time.perf_counter()
            second = partial.state.thread(extra)
            thread_seconds = time.perf_counter() - started
            started = time.perf_counter()
            day_store.save(partial, StoreMeta("bench", None, max(extra.arrived_at)), {}, second.renamed)
            save_seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            day_store.discard()
            runs.append((load_seconds + thread_seconds + save_seconds, load_seconds, thread_seconds, save_seconds,
                         cpu_seconds))  # fmt: skip
        day_seconds, load_seconds, thread_seconds, save_seconds, cpu_seconds = min(runs)
    whole = ThreadState().thread(everything).thread_ids
    current = [second.renamed.get(t, t) for t in first.thread_ids]
    return {
        "day_seconds": day_seconds,
        "day_cpu_seconds": cpu_seconds,
        "load_seconds": load_seconds,
        "thread_seconds": thread_seconds,
        "save_seconds": save_seconds,
        "replace_seconds": replace_seconds,
        "loaded_nodes": len(partial.globals),
        "state_nodes": meta.next_node,
        "state_mb": state_mb,
        "same_ids": whole == current + second.thread_ids,
    }


PHASES = {"union_find": phase_union_find, "seslake": phase_seslake, "store": phase_store}


def child(phase: str, args: argparse.Namespace, messages: int | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--messages", str(messages or args.messages), "--day",
         str(args.day), "--seed", str(args.seed), "--shape", args.shape, "--repeats", str(args.repeats)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(args: argparse.Namespace) -> None:
    """Every phase of one shape, each in its own process, and the figures side by side."""
    base = child("union_find", args)
    ours = child("seslake", args)
    small = child("store", args, max(args.day, args.messages // 10))
    large = child("store", args, args.messages)
    print(
        f"== shape {args.shape}: {base['messages']:,} messages, {base['references']:,} references "
        f"({base['references'] / base['messages']:.1f} per message), {base['distinct_ids']:,} distinct ids "
        f"(missing parents included), {TENANTS} tenants; data held in memory: ~{base['data_mb']:,.0f} MB"
    )
    print(f"{'':<34}{'seconds':>9}{'peak MB':>9}{'threads':>9}")
    print(f"{'plain union-find (baseline)':<34}{base['seconds']:>9.2f}{base['peak_mb']:>9,.0f}{base['threads']:>9,}")
    print(f"{'seslake ThreadState.thread':<34}{ours['seconds']:>9.2f}{ours['peak_mb']:>9,.0f}{ours['threads']:>9,}")
    print(
        f"ratio seslake / union-find: time {ours['seconds'] / base['seconds']:.2f}x (target <= 1.5x), "
        f"peak memory {ours['peak_mb'] / base['peak_mb']:.2f}x ({ours['peak_mb'] / 1024:.2f} GB, target < 4 GB)"
    )
    per_msg_full = ours["seconds"] / args.messages * 1e6
    per_msg_day = ours["day_seconds"] / max(1, args.day) * 1e6
    print(
        f"in memory: {args.day:,} more messages (one day) against the {args.messages:,}-message state: "
        f"{ours['day_seconds']:.2f} s ({per_msg_day:.1f} µs/message vs {per_msg_full:.1f} in the full run); "
        f"{ours['day_threads_renamed']} older threads joined into others ({ours['day_rows_renamed']} rows renamed)"
    )
    print(
        f"whole-state Parquet (ThreadState.save/load): {ours['state_mb']:.0f} MB, save {ours['save_seconds']:.2f} s, "
        f"load {ours['load_seconds']:.2f} s; day-by-day == all at once: {ours['incremental_equals_batch']}"
    )
    for name, figures in (("small", small), ("10x larger", large)):
        print(
            f"keyed store, {name} state ({figures['state_nodes']:,} nodes, {figures['state_mb']:.0f} MB; written "
            f"whole in {figures['replace_seconds']:.2f} s): one day {figures['day_seconds']:.2f} s = load "
            f"{figures['load_seconds']:.2f} ({figures['loaded_nodes']:,} nodes) + thread "
            f"{figures['thread_seconds']:.2f} + save {figures['save_seconds']:.2f} "
            f"(CPU {figures['day_cpu_seconds']:.2f} s); same ids as one call: "
            f"{figures['same_ids']}"
        )
    print(
        f"incremental day, 10x larger state / small state: {large['day_seconds'] / small['day_seconds']:.2f}x wall, "
        f"{large['day_cpu_seconds'] / small['day_cpu_seconds']:.2f}x CPU (target: about 1x, not growing with the state)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--day", type=int, default=PER_DAY, help="messages threaded incrementally afterwards")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shape", choices=[*SHAPES, "all"], default="all", help="the archive's shape (SHAPES)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement; the best counts")
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.messages, args.day, args.seed, args.shape, args.repeats)))
        return
    for shape in SHAPES if args.shape == "all" else [args.shape]:
        report(argparse.Namespace(**{**vars(args), "shape": shape}))


if __name__ == "__main__":
    main()
