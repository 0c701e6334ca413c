"""Sets of integer trade ids kept as sorted, disjoint, inclusive ranges `[(lo, hi), ...]`.

Dense exchange ids make these tiny (one range per contiguous stretch of history), and every
operation on a batch of ids is vectorised with numpy. Sparse ids (Kraken) would split runs at
every skipped id, so a complete batch of them is recorded by the span it covers (`spans`).
"""

from __future__ import annotations

import numpy as np
from schemahub_core.schema import SPARSE_ID_EXCHANGES

Ranges = list[tuple[int, int]]


def runs(sorted_unique_ids: np.ndarray) -> Ranges:
    """The ranges covering exactly the given ids (sorted ascending, no repeats)."""
    if sorted_unique_ids.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(sorted_unique_ids) != 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [sorted_unique_ids.size - 1]))
    return [
        (int(lo), int(hi))
        for lo, hi in zip(sorted_unique_ids[starts], sorted_unique_ids[ends], strict=True)
    ]


def spans(sorted_unique_ids: np.ndarray, committed: Ranges) -> Ranges:
    """The ranges from each id to the next, broken only where `committed` ranges lie between.

    For a batch that holds every trade of its symbol between its first and last id (so an id
    it skips does not exist), this records the stretch of history the batch covers without
    claiming any id another commit owns. The ids must not be in `committed`.
    """
    if sorted_unique_ids.size == 0:
        return []
    starts = np.asarray([lo for lo, _ in committed], dtype=np.int64)
    # Committed ranges starting at or before each id: a change between neighbours means one
    # lies between them (the ids themselves are outside every committed range).
    slot = np.searchsorted(starts, sorted_unique_ids, side="right")
    breaks = np.flatnonzero(np.diff(slot) != 0)
    first = np.concatenate(([0], breaks + 1))
    last = np.concatenate((breaks, [sorted_unique_ids.size - 1]))
    return [
        (int(lo), int(hi))
        for lo, hi in zip(sorted_unique_ids[first], sorted_unique_ids[last], strict=True)
    ]


def merge(a: Ranges, b: Ranges) -> Ranges:
    """The union of two range sets, coalescing overlapping and adjacent ranges."""
    merged: Ranges = []
    for lo, hi in sorted([*a, *b]):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def contains(ranges: Ranges, ids: np.ndarray) -> np.ndarray:
    """Boolean mask: which of `ids` fall inside any of the ranges."""
    if not ranges or ids.size == 0:
        return np.zeros(ids.shape, dtype=bool)
    bounds = np.asarray(ranges, dtype=np.int64)
    slot = np.searchsorted(bounds[:, 0], ids, side="right") - 1
    safe = np.clip(slot, 0, None)
    return (slot >= 0) & (ids <= bounds[safe, 1])


def count(ranges: Ranges) -> int:
    """How many ids the ranges cover."""
    return sum(hi - lo + 1 for lo, hi in ranges)


def first_row_of_each_id(ids: np.ndarray) -> np.ndarray:
    """Row indices of the first row of each distinct id, in ascending id order."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    first = np.ones(sorted_ids.shape, dtype=bool)
    first[1:] = sorted_ids[1:] != sorted_ids[:-1]
    return order[first]


def added_ranges(
    exchange: str, sorted_fresh_ids: np.ndarray, committed: Ranges, *, complete: bool
) -> Ranges:
    """The id ranges one commit adds (both table formats call this: one rule).

    On sparse-id exchanges (Kraken) a complete batch adds the whole span it covers; otherwise
    the commit adds the exact runs of ids.
    """
    if complete and exchange in SPARSE_ID_EXCHANGES:
        return spans(sorted_fresh_ids, committed)
    return runs(sorted_fresh_ids)
