"""Progress lines for long backfills: done/total, percent, rate and ETA per partition.

Each line also carries the stream's total over the partitions (products, symbols) started so
far, when the reporters share one ``StreamProgress``; ETAs read as ``1 h 02 min``, ``4 min 05 s``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


def format_duration(seconds: float) -> str:
    """Render a duration for a person: ``45 s``, ``4 min 05 s``, ``1 h 02 min``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _eta(remaining: int, done: int, elapsed: float) -> str:
    rate = done / max(elapsed, 1e-9)
    return format_duration(remaining / rate) if rate > 0 else "unknown"


class StreamProgress:
    """The sum over a stream's partitions: ids to read and read so far, across all of them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Start the stream's clock now."""
        self.total = 0
        self.done = 0
        self.partitions = 0
        self._clock = clock
        self._started = clock()

    def line(self, now: float) -> str:
        """E.g. ``all 3 products so far: 12000/90000 (13.3%), ETA 4 min 05 s``."""
        percent = 100.0 * self.done / self.total if self.total else 100.0
        eta = _eta(self.total - self.done, self.done, now - self._started)
        return (
            f"all {self.partitions} partitions so far: {self.done}/{self.total} ({percent:.1f}%),"
            f" ETA {eta}"
        )


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
        stream_progress: StreamProgress | None = None,
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
        self.stream_progress = stream_progress
        if stream_progress is not None:
            stream_progress.total += self.total
            stream_progress.partitions += 1

    def advance_to(self, last_done_id: int, source: str | None = None) -> None:
        """Record every id up to ``last_done_id`` as done; log if the interval has elapsed."""
        done = min(self.total, max(self.done, last_done_id - self.first_id + 1))
        if self.stream_progress is not None:
            self.stream_progress.done += done - self.done
        self.done = done
        now = self._clock()
        if now - self._last_logged >= self.interval:
            self._last_logged = now
            self.logger.info("%s", self.line(now, source))

    def finish(self) -> None:
        """Log the final line of this partition."""
        self.logger.info("%s (done)", self.line(self._clock()))

    def line(self, now: float, source: str | None = None) -> str:
        """E.g. ``coinbase_trades BTC-USD: 12000/50000 trade ids (24.0%), 1200 ids/s, ETA 32 s``.

        With a ``StreamProgress``, ``; all 2 partitions so far: ...`` follows.
        """
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        percent = 100.0 * self.done / self.total if self.total else 100.0
        eta = _eta(self.total - self.done, self.done, elapsed)
        via = f" via {source}" if source else ""
        line = (
            f"{self.stream} {self.partition}: {self.done}/{self.total} trade ids "
            f"({percent:.1f}%){via}, {rate:.0f} ids/s, ETA {eta}"
        )
        if self.stream_progress is not None:
            line += f"; {self.stream_progress.line(now)}"
        return line


class CountProgress:
    """Progress over a known number of items (partitions, files); a line every ``interval`` s.

    For table maintenance: ``compact: 12/40 partitions (30.0%), ETA 1 min 10 s; last: ...``.
    """

    def __init__(
        self,
        what: str,
        total: int,
        logger: logging.Logger,
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``what`` names the work and its unit, e.g. ``compact: partitions``."""
        self.what = what
        self.total = total
        self.done = 0
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._last_logged = self._started

    def advance(self, note: str = "") -> None:
        """Count one more item done; log a line if the interval elapsed or it was the last."""
        self.done += 1
        now = self._clock()
        if now - self._last_logged >= self.interval or self.done == self.total:
            self._last_logged = now
            self.logger.info("%s", self.line(now, note))

    def line(self, now: float, note: str = "") -> str:
        """E.g. ``compact: 3/10 partitions (30.0%), ETA 12 s; last: BINANCE BTCUSDT 2026-01-01``."""
        percent = 100.0 * self.done / self.total if self.total else 100.0
        eta = _eta(self.total - self.done, self.done, now - self._started)
        what, _, unit = self.what.partition(": ")
        line = f"{what}: {self.done}/{self.total} {unit} ({percent:.1f}%), ETA {eta}"
        return line + (f"; last: {note}" if note else "")
