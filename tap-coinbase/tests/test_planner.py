"""Page plans are exact whichever way Coinbase reads the `after` cursor."""

from __future__ import annotations

from tap_coinbase.planner import Page, plan_pages, trim_page


def served(after: int, limit: int, *, inclusive: bool, missing: frozenset[int] = frozenset()):
    """What a server returns for after/limit, newest first, under one reading of `after`."""
    top = after if inclusive else after - 1
    ids = [i for i in range(top, 0, -1) if i not in missing][:limit]
    return [{"trade_id": i} for i in ids]


def test_pages_cover_every_id_once_between_watermark_and_newest():
    pages = list(plan_pages(watermark=41, newest_id=5000, page_size=1000))
    covered = [i for p in pages for i in range(p.low, p.high + 1)]
    assert covered == list(range(42, 5001))
    assert all(p.limit <= 1000 for p in pages)


def test_trimmed_pages_are_identical_under_strict_and_inclusive_after():
    for inclusive in (False, True):
        emitted = []
        for page in plan_pages(watermark=10, newest_id=2345, page_size=100):
            result = trim_page(page, served(page.after, page.limit, inclusive=inclusive))
            assert result.gaps == []
            emitted += [t["trade_id"] for t in result.trades]
        assert emitted == list(range(11, 2346)), f"inclusive={inclusive}"


def test_missing_ids_are_reported_as_ranges_not_invented():
    page = Page(low=100, high=120)
    trades = served(page.after, page.limit, inclusive=False, missing=frozenset({103, 104, 120}))
    result = trim_page(page, trades)
    assert result.gaps == [(103, 104), (120, 120)]
    assert [t["trade_id"] for t in result.trades] == [
        i for i in range(100, 121) if i not in {103, 104, 120}
    ]
