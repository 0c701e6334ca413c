"""The simulated market clock: frozen, real time, or accelerated."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

CLOCK_MODES = ("frozen", "realtime", "accelerated")


def to_epoch_us(value: datetime | str | int | float) -> int:
    """Epoch microseconds from an aware datetime, an ISO 8601 string or epoch seconds."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone (UTC) explicitly")
        return int(value.timestamp()) * 1_000_000 + value.microsecond
    return int(value * 1_000_000)


class SimClock:
    """Market time in epoch microseconds.

    `frozen` stays at the start instant until `advance()` is called; `realtime` follows the
    wall clock from the start instant; `accelerated` runs `speed` times faster.
    """

    def __init__(self, mode: str = "frozen", start_us: int | None = None, speed: float = 1.0):
        """Start at `start_us` (default: now, in whole seconds); refuse a bad mode or speed."""
        if mode not in CLOCK_MODES:
            raise ValueError(f"clock mode {mode!r} unknown; use one of {', '.join(CLOCK_MODES)}")
        if mode == "accelerated" and speed <= 0:
            raise ValueError(f"accelerated clock needs a positive speed, got {speed}")
        self.mode = mode
        self.speed = speed if mode == "accelerated" else 1.0
        self.start_us = start_us if start_us is not None else int(time.time()) * 1_000_000
        self._offset_us = 0
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    def now_us(self) -> int:
        """Current market time (epoch microseconds)."""
        with self._lock:
            elapsed = 0.0 if self.mode == "frozen" else time.monotonic() - self._t0
            return self.start_us + self._offset_us + int(elapsed * self.speed * 1e6)

    def advance(self, seconds: float) -> None:
        """Move market time forward (any mode); new trades become visible at once."""
        if seconds < 0:
            raise ValueError("the market clock never goes backwards")
        with self._lock:
            self._offset_us += int(seconds * 1e6)

    def now(self) -> datetime:
        """Current market time as an aware UTC datetime."""
        us = self.now_us()
        return datetime.fromtimestamp(us // 1_000_000, tz=UTC).replace(microsecond=us % 1_000_000)
