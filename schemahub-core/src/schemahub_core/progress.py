"""Progress lines for long backfills: done/total, percent, rate and ETA per partition."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class ProgressReporter:
    """Tracks one partition's trade ids ``first_id..last_id`` and logs a line every ``interval`` s.

    Taps emit trades in ascending id order, so "done" is simply how far the last emitted id
    has come; missing ids at the exchange count as done once passed.
    """

    def __init__(
        self,
        stream: str,
        partition: str,
        first_id: int,
        last_id: int,
        logger: logging.Logger,
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``partition`` names the product or symbol; the range is inclusive."""
        self.stream = stream
        self.partition = partition
        self.first_id = first_id
        self.total = max(0, last_id - first_id + 1)
        self.done = 0
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._last_logged = self._started

    def advance_to(self, last_done_id: int, source: str | None = None) -> None:
        """Record every id up to ``last_done_id`` as done; log if the interval has elapsed."""
        self.done = min(self.total, max(self.done, last_done_id - self.first_id + 1))
        now = self._clock()
        if now - self._last_logged >= self.interval:
            self._last_logged = now
            self.logger.info("%s", self.line(now, source))

    def finish(self) -> None:
        """Log the final line of this partition."""
        self.logger.info("%s (done)", self.line(self._clock()))

    def line(self, now: float, source: str | None = None) -> str:
        """E.g. ``coinbase_trades BTC-USD: 12000/50000 trade ids (24.0%), 1200 ids/s, ETA 32 s``."""
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        percent = 100.0 * self.done / self.total if self.total else 100.0
        remaining = self.total - self.done
        eta = f"{remaining / rate:.0f} s" if rate > 0 else "unknown"
        via = f" via {source}" if source else ""
        return (
            f"{self.stream} {self.partition}: {self.done}/{self.total} trade ids "
            f"({percent:.1f}%){via}, {rate:.0f} ids/s, ETA {eta}"
        )
