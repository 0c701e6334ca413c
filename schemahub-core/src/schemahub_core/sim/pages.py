"""Page queries over a lazy market: which trades (or aggregate trades) a request returns.

Every function takes explicit visible bounds `[lo_id, hi_id]` (oldest served id, newest id
visible at the request's instant) so that the oracle and the HTTP handlers share one
definition of "what is served".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from schemahub_core.sim.formats import rows
from schemahub_core.sim.market import BLOCK, Block, Market


@dataclass(frozen=True)
class Page:
    """Rows of one response, already formatted, plus the first/last trade id they cover."""

    rows: list[str]
    ids: list[int]  # trade ids (or the aggregates' first trade ids), in page order

    def json(self) -> bytes:
        """The JSON array body."""
        return ("[" + ",".join(self.rows) + "]").encode()


def _slices(
    market: Market,
    lo: int,
    hi: int,
    limit: int | None,
    newest_first: bool,
    keys: Callable[[Block], np.ndarray],
) -> list[tuple[Block, int, int]]:
    """(block, start, stop) ranges of the entries whose key is in `[lo, hi]`, at most `limit`.

    `keys(block)` is the ascending id of each entry: trade ids for trades, each aggregate's
    first trade id for aggregates. `newest_first` walks blocks from `hi` down and keeps the
    newest `limit` entries.
    """
    out: list[tuple[Block, int, int]] = []
    remaining = limit if limit is not None else 1 << 62
    if lo > hi:
        return out
    k, stop, step = (
        (hi // BLOCK, lo // BLOCK - 1, -1) if newest_first else (lo // BLOCK, hi // BLOCK + 1, 1)
    )
    while remaining > 0 and k != stop:
        b = market.block(k)
        block_keys = keys(b)
        i0 = int(np.searchsorted(block_keys, lo, side="left"))
        i1 = int(np.searchsorted(block_keys, hi, side="right"))
        if i1 > i0:
            if i1 - i0 > remaining:
                i0, i1 = (i1 - remaining, i1) if newest_first else (i0, i0 + remaining)
            out.append((b, i0, i1))
            remaining -= i1 - i0
        k += step
    return out


def _trade_keys(block: Block) -> np.ndarray:
    return block.ids


def _aggregate_keys(block: Block) -> np.ndarray:
    return block.ids[block.agg_index()]


def trade_slices(
    market: Market, lo: int, hi: int, limit: int | None = None
) -> list[tuple[Block, int, int]]:
    """(block, start, stop) index ranges of the trades with `lo <= id <= hi`, ascending.

    At most the oldest `limit` trades (all of them without a limit).
    """
    return _slices(market, lo, hi, limit, False, _trade_keys)


def trades(
    market: Market, fmt: str, lo: int, hi: int, limit: int | None, newest_first: bool = False
) -> Page:
    """Trades with `lo <= id <= hi`: the oldest `limit` ones ascending, or the newest descending."""
    row_out: list[str] = []
    id_out: list[int] = []
    for b, i0, i1 in _slices(market, lo, hi, limit, newest_first, _trade_keys):
        r = rows(market, b, fmt)[i0:i1]
        i = b.ids[i0:i1].tolist()
        if newest_first:
            r.reverse()
            i.reverse()
        row_out += r
        id_out += i
    return Page(row_out, id_out)


def aggregates(
    market: Market, fmt: str, lo: int, hi: int, limit: int | None, newest_last: bool = False
) -> Page:
    """Aggregate trades whose first trade id is in `[lo, hi]`, ascending.

    `newest_last=True` keeps the newest `limit` of them (still ascending), as Binance does
    when no start is given.
    """
    slices = _slices(market, lo, hi, limit, newest_last, _aggregate_keys)
    if newest_last:
        slices.reverse()
    row_out: list[str] = []
    id_out: list[int] = []
    for b, g0, g1 in slices:
        row_out += rows(market, b, fmt)[g0:g1]
        id_out += b.ids[b.agg_index()[g0:g1]].tolist()
    return Page(row_out, id_out)


def id_at_or_after(market: Market, t_us: int, now_us: int) -> int:
    """First trade id with time >= `t_us` (the oldest id if `t_us` predates the history).

    Trades of one aggregate share their time, so the result is always an aggregate's first
    trade. Instants after `now_us` give "newest visible id + 1" without generating the
    future (a far-future instant would otherwise extend the history up to it).
    """
    if t_us > now_us:
        return market.newest_id(now_us) + 1
    k = market.block_at_time(t_us)
    while True:
        b = market.block(k)
        j = int(np.searchsorted(b.time_us, t_us, side="left"))
        if j < b.ids.size:
            return max(int(b.ids[j]), market.first_id)
        k += 1


def agg_start_trade_id(market: Market, agg_id: int) -> int:
    """First trade id of aggregate `agg_id`, or of the next existing one."""
    k = max(market.block_of_agg(agg_id), market.k_first)
    b = market.block(k)
    g = agg_id - b.first_agg_id
    starts = b.agg_index()
    if g < 0:
        return market.first_id
    if g >= starts.size:
        return (k + 1) * BLOCK
    return max(int(b.ids[starts[g]]), market.first_id)
