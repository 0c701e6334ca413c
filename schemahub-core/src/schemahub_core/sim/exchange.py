"""What every simulated exchange holds: its clock, its settings and one market per listing."""

from __future__ import annotations

from collections.abc import Sequence

from schemahub_core.sim.clock import SimClock
from schemahub_core.sim.market import Market
from schemahub_core.sim.products import MarketSpec
from schemahub_core.sim.server import Stats
from schemahub_core.sim.settings import Settings


class ExchangeApp:
    """The base of each exchange's app (`CoinbaseApp`, `BinanceApp`, `KrakenApp`).

    A subclass names its ``exchange`` and ``listings`` and sets up its own parts (limits,
    metadata, routes) in ``open``; `Simulator` builds every app with the same arguments.
    """

    exchange: str
    listings: Sequence[MarketSpec]

    def __init__(
        self,
        seed: int,
        clock: SimClock,
        settings: Settings,
        history_trades: int | None,
        stats: Stats | None = None,
    ) -> None:
        """Build the markets of ``listings`` from `seed`, then the subclass's parts (`open`)."""
        self.clock = clock
        self.settings = settings
        self.markets = {
            spec.product_id: Market(spec, seed, clock.start_us, history_trades)
            for spec in self.listings
        }
        self.open(stats)

    def open(self, stats: Stats | None) -> None:
        """Set up what this exchange adds to its markets (``stats``: the server's counters)."""
