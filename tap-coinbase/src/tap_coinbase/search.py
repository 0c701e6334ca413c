"""Find the first trade at or after a point in time by searching trade ids.

Coinbase's trades endpoint has no time filter, but ids are dense and increase with time, so
a binary search over ids finds the boundary in about log2(ids / page_size) requests (about
20 for a billion trades) instead of a scan of history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from tap_coinbase.client import Trade

# fetch(after, limit): trades older than `after` (maybe including it), newest first.
FetchTrades = Callable[[int, int], list[Trade]]


def parse_trade_time(value: str) -> datetime:
    """Parse Coinbase's RFC 3339 `time` (`Z`, 0-6 fractional digits) to an aware datetime."""
    return datetime.fromisoformat(value)


def first_trade_id_at_or_after(
    when: datetime,
    newest: Trade,
    fetch: FetchTrades,
    *,
    page_size: int,
    logger: logging.Logger,
    product_id: str,
) -> int | None:
    """Smallest trade id whose time is >= `when`, or None if even the newest trade is older.

    Invariant: every existing trade with id <= `lo` is older than `when`; trade `hi` is not.
    Each probe returns a window of ids at or below `mid`, which narrows both bounds at once.
    """
    newest_id = int(newest["trade_id"])
    if parse_trade_time(newest["time"]) < when:
        return None
    lo, hi = 0, newest_id
    requests = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        trades = fetch(mid + 1, page_size)
        requests += 1
        for trade in trades:
            trade_id = int(trade["trade_id"])
            if parse_trade_time(trade["time"]) >= when:
                hi = min(hi, trade_id)
            else:
                lo = max(lo, trade_id)
        if hi > mid:
            # The window holds the newest trades at or below mid and none of them is at or
            # after `when`: every trade up to mid is older (time increases with id), even
            # ids the window skipped as gaps.
            lo = max(lo, mid)
        lo = min(lo, hi - 1)
    logger.info(
        "coinbase_trades %s: first trade at or after %s is %d (found in %d requests)",
        product_id,
        when.isoformat(),
        hi,
        requests,
    )
    return hi
