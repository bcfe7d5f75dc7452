"""Thread reconstruction speed against a plain union-find over the same id links, in the same run.

    .venv/bin/python bench/threads.py [--messages 1000000] [--day 30000] [--seed 7]

Link data is generated in memory from the seed, shaped like a support archive in arrival order
(about 30,000 messages a day over 50 tenants): conversations of customers and agents (a heavy tail
of long ones), References chains capped at 12 ids, Outlook replies with In-Reply-To only or just a
Thread-Index, replies that lost their headers (subject fallback), tracking Reply-To addresses, agent
sends whose archived Message-ID SES replaced, first messages missing from the archive, copies and
clashing ids, address junk in In-Reply-To. Each phase runs in its own child process (which
regenerates the data, untimed) so its peak memory (max RSS) is its own:

- union_find: the baseline, a plain union-find (dict of ids, path halving) over each message's
  Message-ID and its References/In-Reply-To ids;
- seslake: `ThreadState.thread` over the same messages, then one more day threaded incrementally
  against that state, the state saved to Parquet and loaded back, and the same messages threaded in
  one call to check that day-by-day and all-at-once give the same thread ids.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.threads.engine import ThreadColumns  # noqa: E402

TENANTS = 50
PER_DAY = 30_000
T0 = 1_791_763_200.0


def generate(total: int, seed: int) -> ThreadColumns:
    """`total` messages in arrival order (deterministic for a seed)."""
    rng = random.Random(f"seslake/bench-threads/{seed}")
    cols = ThreadColumns()
    vocabulary = [f"topic {k} {rng.choice(('factura', 'pedido', 'envío', 'reclamo', 'cobrança'))}" for k in range(3000)]
    open_threads: list[dict] = []
    serial = 0

    def new_thread() -> dict:
        nonlocal serial
        serial += 1
        tenant = f"t{rng.randrange(TENANTS):02d}"
        long_ = rng.random() < 0.08
        return {
            "tenant": tenant,
            "public": f"info@{tenant}.example.com",
            "customer": f"c{rng.getrandbits(40):x}@mail{rng.randrange(30)}.example.net",
            "subject": rng.choice(vocabulary) if rng.random() < 0.3 else f"{rng.choice(vocabulary)} {serial}",
            "left": rng.randrange(15, 70) if long_ else 1 + int(rng.expovariate(0.3)),
            "chain": [],
            "outlook": rng.random() < 0.25,
            "guid": rng.randbytes(16),
            "tracking": f"case-{serial:x}@ses.omnibrein.com" if rng.random() < 0.3 else None,
            "lost": rng.random() < 0.03,
            "n": 0,
        }

    i = 0
    while i < total:
        if not open_threads or rng.random() < 0.21:
            thread = new_thread()
            thread["slot"] = len(open_threads)
            open_threads.append(thread)
        else:
            thread = open_threads[len(open_threads) - 1 - min(int(rng.expovariate(0.02)), len(open_threads) - 1)]
        ts = T0 + i * 86400 / PER_DAY + rng.random()
        outbound = thread["n"] % 2 == 1
        chain = thread["chain"]
        refs: list[str] = list(chain[-12:])
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


def phase_union_find(total: int, day: int, seed: int) -> dict:
    cols = _slice(generate(total + day, seed), 0, total)
    data_mb = _rss_mb()
    started = time.perf_counter()
    groups = plain_union_find(cols)
    return {
        "seconds": time.perf_counter() - started,
        "threads": len(set(groups)),
        "messages": len(cols),
        "references": sum(len(r or ()) for r in cols.reference_ids),
        "distinct_ids": len({*(m for m in cols.message_id if m), *(r for rs in cols.reference_ids for r in rs or ())}),
        "data_mb": data_mb,
        "peak_mb": _rss_mb(),
    }


def phase_seslake(total: int, day: int, seed: int) -> dict:
    from pipelines.threads.engine import ThreadState

    everything = generate(total + day, seed)
    bulk, extra = _slice(everything, 0, total), _slice(everything, total, total + day)
    data_mb = _rss_mb()
    state = ThreadState()
    started = time.perf_counter()
    first = state.thread(bulk)
    full_seconds = time.perf_counter() - started
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


def child(phase: str, args: argparse.Namespace) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--messages", str(args.messages), "--day", str(args.day),
         "--seed", str(args.seed)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--day", type=int, default=PER_DAY, help="messages threaded incrementally afterwards")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--phase", choices=["union_find", "seslake"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        run = phase_union_find if args.phase == "union_find" else phase_seslake
        print(json.dumps(run(args.messages, args.day, args.seed)))
        return
    base = child("union_find", args)
    ours = child("seslake", args)
    print(
        f"{base['messages']:,} messages, {base['references']:,} references, {base['distinct_ids']:,} distinct ids "
        f"(missing parents included), {TENANTS} tenants; data held in memory: ~{base['data_mb']:,.0f} MB"
    )
    print(f"{'':<34}{'seconds':>9}{'peak MB':>9}{'threads':>9}")
    print(f"{'plain union-find (baseline)':<34}{base['seconds']:>9.2f}{base['peak_mb']:>9,.0f}{base['threads']:>9,}")
    print(f"{'seslake ThreadState.thread':<34}{ours['seconds']:>9.2f}{ours['peak_mb']:>9,.0f}{ours['threads']:>9,}")
    print(
        f"ratio seslake / union-find: time {ours['seconds'] / base['seconds']:.2f}x (target <= 2x), "
        f"peak memory {ours['peak_mb'] / base['peak_mb']:.2f}x ({ours['peak_mb'] / 1024:.2f} GB, target < 4 GB)"
    )
    per_msg_full = ours["seconds"] / args.messages * 1e6
    per_msg_day = ours["day_seconds"] / max(1, args.day) * 1e6
    print(
        f"incremental: {args.day:,} more messages (one day) against the {args.messages:,}-message state: "
        f"{ours['day_seconds']:.2f} s ({per_msg_day:.1f} µs/message vs {per_msg_full:.1f} in the full run); "
        f"after save+load: {ours['day_after_load_seconds']:.2f} s; {ours['day_threads_renamed']} older threads "
        f"joined into others ({ours['day_rows_renamed']} rows renamed)"
    )
    print(
        f"state: {ours['state_mb']:.0f} MB of Parquet, save {ours['save_seconds']:.2f} s, load "
        f"{ours['load_seconds']:.2f} s; day-by-day == all at once: {ours['incremental_equals_batch']}; "
        f"peak of the whole seslake child {ours['peak_mb_all']:,.0f} MB"
    )


if __name__ == "__main__":
    main()
