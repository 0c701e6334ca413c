"""Rate limiters shared by all threads of a tap.

* :class:`TokenBucket` -- ``rate`` tokens per second, at most ``burst`` saved up. Reservation
  style (GCRA): ``acquire`` books its tokens under a lock, the balance may go negative, and
  the caller sleeps outside the lock until its reservation is due. Callers are therefore
  served in the order they asked (fair under contention) and, for every window of length
  ``T``, the weight granted never exceeds ``burst + rate * T``.
* :class:`WeightBudget` -- Binance's ``REQUEST_WEIGHT`` counter: a budget per UTC minute
  (windows aligned to minute boundaries like the server's ``1M`` counter), of which only
  ``fraction`` is ever spent, and which adopts the server's ``X-MBX-USED-WEIGHT-1M`` reading
  so that other clients on the same IP are accounted for.

Both offer ``acquire(weight) -> seconds waited``, ``observe(headers)`` and ``counters``, so
the HTTP client treats them alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
_MINUTE = 60.0


class RateLimiter(Protocol):
    """What the HTTP client needs from a limiter."""

    def acquire(self, weight: int = 1) -> float:
        """Block until ``weight`` may be spent; return the seconds waited."""
        ...

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from a response's headers (server-side usage counters)."""
        ...


def _check_weight(weight: int, ceiling: float, what: str) -> None:
    """Reject weights that are not positive or can never be granted at once."""
    if isinstance(weight, bool) or not isinstance(weight, int) or weight <= 0:
        raise ValueError(f"acquire(weight={weight!r}): weight must be a positive integer.")
    if weight > ceiling:
        raise ValueError(
            f"acquire(weight={weight}) can never be granted: it exceeds the {what} "
            f"({ceiling:g}). Raise the {what} or split the request."
        )


class TokenBucket:
    """Thread-safe weighted token bucket (reservation style, FIFO under contention)."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``rate``: tokens added per second; ``burst``: bucket capacity (starts full)."""
        if not rate > 0:
            raise ValueError(f"TokenBucket(rate={rate!r}): rate must be > 0 tokens per second.")
        if not burst >= 1:
            raise ValueError(
                f"TokenBucket(burst={burst!r}): burst must be >= 1, or no request could pass."
            )
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()
        self._granted_weight = 0
        self._acquires = 0
        self._waits = 0
        self._waited_seconds = 0.0

    def acquire(self, weight: int = 1) -> float:
        """Reserve ``weight`` tokens, sleep until the reservation is due; return seconds waited."""
        _check_weight(weight, self.burst, "bucket burst")
        with self._lock:
            now = self._clock()
            # Refill only up to burst; a negative balance (outstanding reservations) is
            # paid back by the same refill before any new token accumulates.
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= weight
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            self._granted_weight += weight
            self._acquires += 1
            if wait > 0:
                self._waits += 1
                self._waited_seconds += wait
        if wait > 0:
            self._sleep(wait)
        return wait

    def observe(self, headers: Mapping[str, str]) -> None:
        """No-op: a plain token bucket has no server counter to follow."""

    @property
    def counters(self) -> dict[str, float]:
        """Cumulative figures for metrics: acquires, granted weight, waits, seconds waited."""
        with self._lock:
            return {
                "acquires": self._acquires,
                "granted_weight": self._granted_weight,
                "waits": self._waits,
                "waited_seconds": self._waited_seconds,
                "tokens": self._tokens,
            }


class WeightBudget:
    """Binance ``REQUEST_WEIGHT`` budget per UTC minute, following the server's counter.

    The budget is ``int(limit_per_minute * fraction)``; the headroom absorbs clock skew
    between this host and the exchange and requests already in flight.

    ``observe`` and minute boundaries: ``X-MBX-USED-WEIGHT-1M`` counts the server minute in
    which the request was served. When the response has a ``Date`` header, the reading is
    attributed to that minute: a reading from a minute that is already over here is ignored
    (that counter has been reset), otherwise it applies to the current minute. Without a
    ``Date`` header the reading is attributed to the current minute -- the conservative
    choice: over-counting can only make us pause early, never overspend. Within a minute the
    used weight is ``max(local count, server reading)``: a lower reading is not trusted,
    because our own requests in flight are not in it yet.
    """

    def __init__(
        self,
        limit_per_minute: int,
        fraction: float = 0.9,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        min_budget: int | None = None,
    ) -> None:
        """``limit_per_minute``: the exchange's limit (6000 Binance, 1200 Binance.US).

        ``min_budget``: how far a throttled budget may shrink (default a quarter of it).
        """
        if isinstance(limit_per_minute, bool) or not isinstance(limit_per_minute, int):
            raise ValueError(f"WeightBudget(limit_per_minute={limit_per_minute!r}) must be int.")
        if limit_per_minute <= 0:
            raise ValueError(
                f"WeightBudget(limit_per_minute={limit_per_minute}) must be > 0 weight per minute."
            )
        if not 0 < fraction <= 1:
            raise ValueError(
                f"WeightBudget(fraction={fraction!r}) must be in (0, 1]: the share of the "
                f"exchange's limit this client may spend."
            )
        self.limit_per_minute = limit_per_minute
        self.fraction = fraction
        self.budget = int(limit_per_minute * fraction)
        if self.budget < 1:
            raise ValueError(
                f"WeightBudget: {limit_per_minute} x {fraction} leaves no weight to spend."
            )
        self.min_budget = min(self.budget, min_budget or max(1, self.budget // 4))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._window = self._window_of(clock())
        self._used = 0
        self._server_reading: int | None = None
        self._granted_weight = 0
        self._acquires = 0
        self._waits = 0
        self._waited_seconds = 0.0

    @staticmethod
    def _window_of(timestamp: float) -> int:
        """Index of the UTC minute containing ``timestamp`` (epoch seconds)."""
        return int(timestamp // _MINUTE)

    def _roll(self, now: float) -> int:
        """Start a fresh count when a new minute has begun; return the current window."""
        window = self._window_of(now)
        if window > self._window:
            self._window = window
            self._used = 0
            self._server_reading = None
        return self._window

    def acquire(self, weight: int = 1) -> float:
        """Wait until ``weight`` fits in this minute's budget, spend it; return seconds waited."""
        _check_weight(weight, self.budget, "per-minute weight budget")
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                window = self._roll(now)
                paused = self._paused_until - now
                if paused <= 0 and self._used + weight <= self.budget:
                    self._used += weight
                    self._granted_weight += weight
                    self._acquires += 1
                    if waited > 0:
                        self._waits += 1
                        self._waited_seconds += waited
                    return waited
                # Paused by a Retry-After, or over budget: nothing frees up before the pause
                # ends or the next server minute begins.
                wait = paused if paused > 0 else (window + 1) * _MINUTE - now
            self._sleep(wait)
            waited += wait

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adopt the server's ``X-MBX-USED-WEIGHT-1M`` reading (see the class docstring).

        A ``Retry-After`` (Binance's 429/418) pauses every thread, not only the one that got
        it: Binance bans an IP that keeps sending while a 429 is in force. Its weight reading
        is what the exchange accepted this minute; below our budget it means the configured
        limit is too high (or other clients share the IP), so the budget shrinks to the
        reading times the fraction, never below ``min_budget``.
        """
        raw = _header(headers, USED_WEIGHT_HEADER)
        try:
            reading = None if raw is None else int(raw)
        except ValueError:
            reading = None
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        served_at = _date_header(headers)
        with self._lock:
            now = self._clock()
            window = self._roll(now)
            if retry_after is not None:
                self._paused_until = max(self._paused_until, now + retry_after)
                if reading is not None:
                    shrunk = int(reading * self.fraction)
                    self.budget = max(self.min_budget, min(self.budget, shrunk))
            if reading is None or (served_at is not None and self._window_of(served_at) < window):
                return
            self._server_reading = reading
            self._used = max(self._used, reading)

    @property
    def counters(self) -> dict[str, float]:
        """Figures for metrics: this minute's used weight, budget, server reading, waits."""
        with self._lock:
            return {
                "budget": self.budget,
                "used_this_minute": self._used,
                "server_reading": -1 if self._server_reading is None else self._server_reading,
                "acquires": self._acquires,
                "granted_weight": self._granted_weight,
                "waits": self._waits,
                "waited_seconds": self._waited_seconds,
            }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that also works on plain dicts."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _date_header(headers: Mapping[str, str]) -> float | None:
    """The response's ``Date`` as epoch seconds, or None when absent or unparsable."""
    raw = _header(headers, "Date")
    if raw is None:
        return None
    try:
        return parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP-date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
