"""Sets of integer trade ids kept as sorted, disjoint, inclusive ranges `[(lo, hi), ...]`.

Dense exchange ids make these tiny (one range per contiguous stretch of history), and every
operation on a batch of ids is vectorised with numpy.
"""

from __future__ import annotations

import numpy as np

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
