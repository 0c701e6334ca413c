"""Per-product progress lines at a steady cadence: done/total, percent, rate, ETA."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class ProgressReporter:
    """Counts trade ids covered for one product and logs a line every `interval` seconds."""

    def __init__(
        self,
        product_id: str,
        total: int,
        logger: logging.Logger,
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`total` is the number of trade ids between the watermark and the newest trade."""
        self.product_id = product_id
        self.total = max(total, 0)
        self.done = 0
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._last_logged = self._started

    def advance(self, ids_covered: int) -> None:
        """Record `ids_covered` more ids as done; log if the interval has elapsed."""
        self.done += ids_covered
        now = self._clock()
        if now - self._last_logged >= self.interval:
            self._last_logged = now
            self.logger.info("%s", self.line(now))

    def finish(self) -> None:
        """Log the final line of this product."""
        self.logger.info("%s (done)", self.line(self._clock()))

    def line(self, now: float) -> str:
        """The progress line: `coinbase_trades BTC-USD: 12000/50000 ids (24.0%), ...`."""
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        percent = 100.0 * self.done / self.total if self.total else 100.0
        remaining = self.total - self.done
        eta = f"{remaining / rate:.0f} s" if rate > 0 else "unknown"
        return (
            f"coinbase_trades {self.product_id}: {self.done}/{self.total} trade ids "
            f"({percent:.1f}%), {rate:.0f} ids/s, ETA {eta}"
        )
