"""Ground truth: exactly the trades a simulator serves, for an id range or a time range."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np

from schemahub_core.sim import pages
from schemahub_core.sim.clock import SimClock, to_epoch_us
from schemahub_core.sim.market import Market

TimeLike = datetime | str | int
"""An aware datetime, an ISO 8601 string, or epoch microseconds (int)."""


def _us(value: TimeLike) -> int:
    return value if isinstance(value, int) else to_epoch_us(value)


class Oracle:
    """Reads the simulator's markets directly; every result equals what the API serves.

    Trades come back as the very JSON objects (Kraken: rows, with `time` as its text) the API
    sends, ascending by id, limited to
    the trades visible at the market clock's current instant. Binance trades default to
    microsecond times (as served with `X-MBX-TIME-UNIT: MICROSECOND`); pass
    `time_unit="ms"` for the default millisecond responses.
    """

    def __init__(self, exchange: str, markets: dict[str, Market], clock: SimClock, metadata: list):
        """Read `markets` at `clock`'s instant; `metadata` is the exchange's product list."""
        self.exchange = exchange
        self._markets = markets
        self._clock = clock
        self.metadata: list[dict[str, Any]] = metadata
        """Coinbase `/products` items, Binance `exchangeInfo.symbols` items, or Kraken
        `AssetPairs` entries with their canonical name under `pair`."""

    @property
    def products(self) -> list[str]:
        """Product ids (Coinbase), symbols (Binance) or pair altnames (Kraken) served."""
        return list(self._markets)

    symbols = products

    def _market(self, product: str) -> Market:
        try:
            return self._markets[product]
        except KeyError:
            raise KeyError(
                f"{self.exchange} simulator has no product {product!r}; it has {self.products}"
            ) from None

    def _fmt(self, time_unit: str, kind: str = "binance") -> str:
        if self.exchange in ("coinbase", "kraken"):
            return self.exchange
        if time_unit not in ("us", "ms"):
            raise ValueError(f"time_unit must be 'us' or 'ms', got {time_unit!r}")
        return f"{kind}_{time_unit}"

    def newest_id(self, product: str) -> int:
        """Newest trade id visible now."""
        return self._market(product).newest_id(self._clock.now_us())

    def first_id(self, product: str) -> int:
        """Oldest trade id served."""
        return self._market(product).first_id

    def trades(
        self,
        product: str,
        first_id: int | None = None,
        last_id: int | None = None,
        *,
        time_unit: str = "us",
    ) -> list[dict[str, Any]]:
        """Trades with `first_id <= id <= last_id` (bounds default to all visible), ascending."""
        market = self._market(product)
        lo = market.first_id if first_id is None else max(first_id, market.first_id)
        hi = self.newest_id(product) if last_id is None else min(last_id, self.newest_id(product))
        page = pages.trades(market, self._fmt(time_unit), lo, hi, None)
        # Kraken's `time` is a number with 7 decimals: keep its text, as a careful client does.
        return json.loads(page.json(), parse_float=str if self.exchange == "kraken" else float)

    def id_at_or_after(self, product: str, when: TimeLike) -> int | None:
        """First trade id at or after `when`, or None if no visible trade is that recent."""
        market = self._market(product)
        now = self._clock.now_us()
        found = pages.id_at_or_after(market, _us(when), now)
        return found if found <= market.newest_id(now) else None

    def trades_between(
        self, product: str, start: TimeLike, end: TimeLike, *, time_unit: str = "us"
    ) -> list[dict[str, Any]]:
        """Trades with `start <= time < end`, ascending."""
        market = self._market(product)
        now = self._clock.now_us()
        lo = pages.id_at_or_after(market, _us(start), now)
        hi = pages.id_at_or_after(market, _us(end), now) - 1
        return self.trades(product, lo, hi, time_unit=time_unit) if hi >= lo else []

    def missing_ids(self, product: str, lo: int, hi: int) -> list[int]:
        """Ids in `[lo, hi]` that never exist (gaps of a sparse product), ascending.

        Only the served history counts: ids before the first or after the newest are ignored.
        """
        market = self._market(product)
        ids = np.arange(max(lo, market.first_id), min(hi, self.newest_id(product)) + 1)
        return ids[market.is_missing(ids.astype(np.int64))].tolist()

    def agg_trades(
        self,
        symbol: str,
        first_trade_id: int | None = None,
        last_trade_id: int | None = None,
        *,
        time_unit: str = "us",
    ) -> list[dict[str, Any]]:
        """Binance aggregate trades whose first trade (`f`) is in the id range, ascending."""
        if self.exchange != "binance":
            raise ValueError("aggregate trades exist only on the Binance simulator")
        market = self._market(symbol)
        lo = market.first_id if first_trade_id is None else max(first_trade_id, market.first_id)
        newest = self.newest_id(symbol)
        hi = newest if last_trade_id is None else min(last_trade_id, newest)
        return json.loads(
            pages.aggregates(market, self._fmt(time_unit, "agg"), lo, hi, None).json()
        )
