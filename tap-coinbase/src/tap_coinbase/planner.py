"""Page plans over dense trade ids, exact under both readings of Coinbase's `after` cursor.

Coinbase documents `after=X` as "trades older than X"; whether X itself is included is not
certain. A page asks `after = high + 1` with `limit = high - low + 2`: read strictly it returns
`[low - 1, high]`, read inclusively `[low, high + 1]`. Both contain the planned range
`[low, high]`, and trimming to it makes the result identical under either reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Page:
    """The trade ids `low..high` (inclusive), read with one request."""

    low: int
    high: int

    @property
    def after(self) -> int:
        """The `after` cursor to send."""
        return self.high + 1

    @property
    def limit(self) -> int:
        """The `limit` to send: one more than the range, to cover either reading of `after`."""
        return self.high - self.low + 2

    @property
    def size(self) -> int:
        """Number of ids in the planned range."""
        return self.high - self.low + 1


def plan_pages(watermark: int, newest_id: int, page_size: int) -> Iterator[Page]:
    """Pages covering `watermark + 1 .. newest_id` in ascending order, `page_size - 1` ids each.

    A generator, so a backfill of a billion ids costs no memory up front.
    """
    if page_size < 2:
        raise ValueError(f"page_size must be >= 2 to plan pages, got {page_size}")
    span = page_size - 1
    low = watermark + 1
    while low <= newest_id:
        high = min(newest_id, low + span - 1)
        yield Page(low, high)
        low = high + 1


@dataclass
class PageResult:
    """The trades of one page inside its planned range, ascending, and the ids missing."""

    page: Page
    trades: list[dict[str, Any]]
    gaps: list[tuple[int, int]]


def trim_page(page: Page, trades: Iterable[dict[str, Any]]) -> PageResult:
    """Keep the trades in `[page.low, page.high]`, ascending and unique; report missing ids.

    Coinbase sends newest first, so the ascending order is usually just the reverse.
    """
    by_id = {}
    for trade in trades:
        trade_id = trade["trade_id"]
        if page.low <= trade_id <= page.high:
            by_id[trade_id] = trade
    ids = sorted(by_id)
    gaps: list[tuple[int, int]] = []
    expected = page.low
    for trade_id in ids:
        if trade_id > expected:
            gaps.append((expected, trade_id - 1))
        expected = trade_id + 1
    if expected <= page.high:
        gaps.append((expected, page.high))
    return PageResult(page, [by_id[i] for i in ids], gaps)
