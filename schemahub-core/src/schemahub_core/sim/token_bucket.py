"""The simulators' server-side rate limit: a lazily refilled token bucket (Coinbase, Kraken)."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """A public limit as an exchange enforces it: a rate per second and a burst capacity.

    Refilled lazily at each request; unlike the clients' `schemahub_core.ratelimit.TokenBucket`
    it never waits, it only says how long the caller would have to.
    """

    def __init__(self) -> None:
        """An empty bucket is filled to the burst on first use (the rate is known only then)."""
        self._tokens: float | None = None
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self, rate: float, burst: int) -> float:
        """Take one token; return 0 if granted, else the seconds until one is available."""
        with self._lock:
            now = time.monotonic()
            tokens = float(burst) if self._tokens is None else self._tokens
            tokens = min(float(burst), tokens + (now - self._last) * rate)
            self._last = now
            if tokens >= 1.0:
                self._tokens = tokens - 1.0
                return 0.0
            self._tokens = tokens
            return (1.0 - tokens) / rate
