"""Per-symbol progress lines: trades done of total, percentage, rate and ETA."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class SymbolProgress:
    """Logs ``done/total (pct) rate ETA`` for one symbol at most every ``interval`` seconds."""

    def __init__(
        self,
        logger: logging.Logger,
        symbol: str,
        first_id: int,
        last_id: int,
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Track the id range ``first_id..last_id`` (inclusive) of ``symbol``."""
        self.logger = logger
        self.symbol = symbol
        self.first_id = first_id
        self.total = max(0, last_id - first_id + 1)
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._last_logged = self._started
        self.done = 0

    def advance(self, last_emitted_id: int, source: str) -> None:
        """Record that every trade up to ``last_emitted_id`` is out; log if a line is due."""
        self.done = min(self.total, last_emitted_id - self.first_id + 1)
        now = self._clock()
        if now - self._last_logged >= self.interval:
            self._last_logged = now
            self.log(source)

    def log(self, source: str) -> None:
        """Log the current progress line."""
        elapsed = max(self._clock() - self._started, 1e-9)
        rate = self.done / elapsed
        pct = 100.0 * self.done / self.total if self.total else 100.0
        remaining = self.total - self.done
        eta = f"{remaining / rate:.0f} s" if rate > 0 else "unknown"
        self.logger.info(
            "binance_trades %s: %d/%d trades (%.1f%%) via %s, %.0f trades/s, ETA %s",
            self.symbol,
            self.done,
            self.total,
            pct,
            source,
            rate,
            eta,
        )
