"""Measuring a threading against the truth: B-cubed precision/recall/F1, and the two naive threaders
(references only, subject only) the rules are compared with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from pipelines.threads.engine import ThreadColumns


@dataclass(frozen=True, slots=True)
class BCubed:
    precision: float
    recall: float
    f1: float
    items: int


def bcubed(predicted: Mapping[Hashable, Hashable], truth: Mapping[Hashable, Hashable]) -> BCubed:
    """B-cubed over the items both mappings hold (item -> cluster label): per item, the share of its
    predicted cluster that is truly its own (precision) and of its true cluster that was found (recall),
    averaged over items."""
    items = [item for item in truth if item in predicted]
    if not items:
        return BCubed(0.0, 0.0, 0.0, 0)
    pairs = Counter((predicted[i], truth[i]) for i in items)
    by_predicted = Counter(predicted[i] for i in items)
    by_truth = Counter(truth[i] for i in items)
    precision = sum(pairs[predicted[i], truth[i]] / by_predicted[predicted[i]] for i in items) / len(items)
    recall = sum(pairs[predicted[i], truth[i]] / by_truth[truth[i]] for i in items) / len(items)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return BCubed(precision, recall, f1, len(items))


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def references_only(columns: ThreadColumns) -> list[str]:
    """Plain JWZ grouping per mailbox: the archived Message-ID and every References/In-Reply-To id,
    nothing else (no SES ids, no junk filter, no duplicate policy, no Thread-Index, tracking or subject)."""
    uf = _UnionFind()
    keys = []
    for i in range(len(columns)):
        own = f"{columns.mailbox[i]}\x1f{columns.message_id[i] or ' row ' + columns.row_key[i]}"
        uf.find(own)
        for ref in columns.reference_ids[i] or ():
            uf.union(own, f"{columns.mailbox[i]}\x1f{ref}")
        keys.append(own)
    return [uf.find(k) for k in keys]


def subject_only(columns: ThreadColumns) -> list[str]:
    """One thread per mailbox and normalized subject (mail without a subject stands alone)."""
    return [
        f"{columns.mailbox[i]}\x1f{columns.subject[i]}" if columns.subject[i] else f" row {columns.row_key[i]}"
        for i in range(len(columns))
    ]
