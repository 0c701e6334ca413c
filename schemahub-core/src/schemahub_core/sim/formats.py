"""Wire formats of trades: each block's rows are formatted once, then cached.

A page is then a `",".join()` of cached row strings: no JSON encoding per request, and a
block's formatting cost is shared by the four pages that read it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from schemahub_core.sim.market import Block, Market

SCALE = 10**8  # decimal strings carry 8 places

COINBASE_ROW = '{"trade_id":%d,"side":"%s","size":"%d.%08d","price":"%d.%08d","time":"%s.%0*dZ"}'
BINANCE_ROW = (
    '{"id":%d,"price":"%d.%08d","qty":"%d.%08d","quoteQty":"%d.%08d","time":%d,'
    '"isBuyerMaker":%s,"isBestMatch":true}'
)
AGG_ROW = '{"a":%d,"p":"%d.%08d","q":"%d.%08d","f":%d,"l":%d,"T":%d,"m":%s,"M":true}'
CSV_ROW = "%d,%d.%08d,%d.%08d,%d.%08d,%d,%s,True"
KRAKEN_ROW = '["%d.%0*d","%d.%08d",%s,"%s","%s","",%d]'
KRAKEN_TIME = "%d.%07d"


def _split(units: np.ndarray) -> tuple[list[int], list[int]]:
    """Integer and 8-digit fractional parts of 1e-8 units, as Python ints."""
    return (units // SCALE).tolist(), (units % SCALE).tolist()


def _batch(row: str, columns: list[list[Any]]) -> list[str]:
    """Format one row per position of the columns (all Python lists, for C-speed access)."""
    return [row % values for values in zip(*columns, strict=True)]


def price_units(market: Market, block: Block) -> np.ndarray:
    """Prices of a block in 1e-8 units."""
    return block.price_ticks * 10 ** (8 - market.spec.price_decimals)


def quote_units(market: Market, block: Block) -> np.ndarray:
    """Quote amount: price * qty rounded half-up to 8 places, exactly, in 1e-8 units."""
    d = 10**market.spec.price_decimals
    return (block.price_ticks * block.qty_units + d // 2) // d


def _rfc3339_columns(time_us: np.ndarray) -> list[list[Any]]:
    """Columns for `%s.%0*d`: the time to the second, then the fraction trimmed of zeros."""
    seconds, fraction = np.divmod(time_us, 1_000_000)
    unique, inverse = np.unique(seconds, return_inverse=True)
    text = np.datetime_as_string(unique.astype("datetime64[s]"), unit="s").astype(object)
    trailing = np.zeros(time_us.size, np.int64)
    digits = fraction.copy()
    for _ in range(5):
        zero = (digits % 10 == 0) & (digits > 0)
        trailing += zero
        digits = np.where(zero, digits // 10, digits)
    return [text[inverse].tolist(), (6 - trailing).tolist(), digits.tolist()]


def _coinbase(market: Market, block: Block) -> list[str]:
    sides = np.where(block.buyer_maker, "buy", "sell").tolist()
    si, sf = _split(block.qty_units)
    pi, pf = _split(price_units(market, block))
    out = _batch(
        COINBASE_ROW, [block.ids.tolist(), sides, si, sf, pi, pf, *_rfc3339_columns(block.time_us)]
    )
    # A whole second has no fraction at all ("...:33Z"), not ".000000".
    for i in np.flatnonzero(block.time_us % 1_000_000 == 0).tolist():
        out[i] = out[i].replace(".000000Z", "Z")
    return out


def _binance(market: Market, block: Block, divisor: int) -> list[str]:
    pi, pf = _split(price_units(market, block))
    qi, qf = _split(block.qty_units)
    vi, vf = _split(quote_units(market, block))
    times = (block.time_us // divisor).tolist()
    flags = np.where(block.buyer_maker, "true", "false").tolist()
    return _batch(BINANCE_ROW, [block.ids.tolist(), pi, pf, qi, qf, vi, vf, times, flags])


def _agg(market: Market, block: Block, divisor: int) -> list[str]:
    starts = block.agg_index()
    ends = np.append(starts[1:], block.ids.size) - 1
    pi, pf = _split(price_units(market, block)[starts])
    qi, qf = _split(np.add.reduceat(block.qty_units, starts))
    agg_ids = (block.first_agg_id + np.arange(starts.size)).tolist()
    times = (block.time_us[starts] // divisor).tolist()
    flags = np.where(block.buyer_maker[starts], "true", "false").tolist()
    firsts, lasts = block.ids[starts].tolist(), block.ids[ends].tolist()
    return _batch(AGG_ROW, [agg_ids, pi, pf, qi, qf, firsts, lasts, times, flags])


def _csv(market: Market, block: Block, divisor: int) -> list[str]:
    pi, pf = _split(price_units(market, block))
    qi, qf = _split(block.qty_units)
    vi, vf = _split(quote_units(market, block))
    times = (block.time_us // divisor).tolist()
    flags = np.where(block.buyer_maker, "True", "False").tolist()
    return _batch(CSV_ROW, [block.ids.tolist(), pi, pf, qi, qf, vi, vf, times, flags])


def kraken_time_ns(time_us: np.ndarray) -> np.ndarray:
    """Kraken trade times in epoch nanoseconds: 100 ns resolution (7 decimals of a second).

    The digit below the microsecond derives from the time itself, so trades sharing a
    timestamp share all of it.
    """
    return time_us * 1000 + (time_us % 9973 % 10) * 100


def kraken_time_text(time_ns: np.ndarray) -> list[str]:
    """`time` as Kraken writes the JSON number: seconds, up to 7 decimals, zeros trimmed."""
    seconds, frac = np.divmod(time_ns // 100, 10_000_000)
    texts = [KRAKEN_TIME % pair for pair in zip(seconds.tolist(), frac.tolist(), strict=True)]
    return [t.rstrip("0") + "0" if t.endswith(".0000000") else t.rstrip("0") for t in texts]


def _kraken(market: Market, block: Block) -> list[str]:
    decimals = max(market.spec.price_decimals, 5)
    price = price_units(market, block) // 10 ** (8 - decimals)
    pi, pf = (price // 10**decimals).tolist(), (price % 10**decimals).tolist()
    vi, vf = _split(block.qty_units)
    sides = np.where(block.buyer_maker, "s", "b").tolist()
    # About a third of the takers are market orders, the rest limit orders crossing the book.
    kinds = np.where(block.ids % 3 == 0, "m", "l").tolist()
    times = kraken_time_text(kraken_time_ns(block.time_us))
    width = [decimals] * block.ids.size
    return _batch(KRAKEN_ROW, [pi, width, pf, vi, vf, times, sides, kinds, block.ids.tolist()])


FORMATTERS: dict[str, Callable[[Market, Block], list[str]]] = {
    "coinbase": _coinbase,
    "binance_ms": lambda m, b: _binance(m, b, 1000),
    "binance_us": lambda m, b: _binance(m, b, 1),
    "agg_ms": lambda m, b: _agg(m, b, 1000),
    "agg_us": lambda m, b: _agg(m, b, 1),
    "csv_ms": lambda m, b: _csv(m, b, 1000),
    "csv_us": lambda m, b: _csv(m, b, 1),
    "kraken": _kraken,
}
CACHED = frozenset({"coinbase", "binance_ms", "binance_us", "agg_ms", "agg_us", "kraken"})


def rows(market: Market, block: Block, fmt: str) -> list[str]:
    """Formatted rows of a block (one per trade, or one per aggregate for `agg_*`)."""
    cached = block.rows.get(fmt)
    if cached is None:
        cached = FORMATTERS[fmt](market, block)
        if fmt in CACHED:  # bulk-dump rows are used once per file, not worth keeping
            block.rows[fmt] = cached
    return cached
