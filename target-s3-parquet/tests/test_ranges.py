"""The committed-id range set: runs, union, membership."""

from __future__ import annotations

import numpy as np
from target_s3_parquet import ranges


def test_runs_cover_exactly_the_ids_with_gaps_kept_open():
    ids = np.array([1, 2, 3, 5, 9, 10], dtype=np.int64)
    assert ranges.runs(ids) == [(1, 3), (5, 5), (9, 10)]
    assert ranges.runs(np.array([], dtype=np.int64)) == []


def test_merge_coalesces_overlapping_and_adjacent_ranges_only():
    assert ranges.merge([(50_001, 60_000)], [(1, 50_000)]) == [(1, 60_000)]
    assert ranges.merge([(1, 3), (10, 12)], [(5, 6), (2, 4)]) == [(1, 6), (10, 12)]


def test_contains_is_inclusive_and_leaves_holes_uncommitted():
    committed = [(1, 3), (10, 12)]
    ids = np.array([0, 1, 3, 4, 9, 10, 12, 13], dtype=np.int64)
    assert ranges.contains(committed, ids).tolist() == [
        False,
        True,
        True,
        False,
        False,
        True,
        True,
        False,
    ]
    assert ranges.count(committed) == 6


def test_spans_cover_a_complete_batch_and_stop_at_ranges_committed_in_between():
    ids = np.array([1, 3, 4, 9, 20, 25], dtype=np.int64)
    assert ranges.spans(ids, []) == [(1, 25)]
    assert ranges.spans(ids, [(10, 15)]) == [(1, 9), (20, 25)]
    assert ranges.spans(ids, [(30, 40), (5, 8)]) == [(1, 4), (9, 25)]
    assert ranges.spans(np.array([], dtype=np.int64), [(1, 2)]) == []


def test_first_row_of_each_id_keeps_the_first_row_of_each_id_in_ascending_id_order():
    # Both tables' commits take the fresh ids in this order as sorted (no second sort).
    ids = np.array([7, 3, 9, 3, 1, 7, 2], dtype=np.int64)
    rows = ranges.first_row_of_each_id(ids)
    assert rows.tolist() == [4, 6, 1, 0, 2]
    assert ids[rows].tolist() == [1, 2, 3, 7, 9]
