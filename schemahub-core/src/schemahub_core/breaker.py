"""Circuit breaker shared by all threads talking to one exchange.

CLOSED --N consecutive failures--> OPEN --cooldown--> HALF_OPEN --M consecutive successes-->
CLOSED; in HALF_OPEN a single probe request is in flight at a time and any failure reopens.
While OPEN, callers of :meth:`CircuitBreaker.before_request` *wait* (on a condition
variable, no busy loop) until the cooldown is over, instead of hammering a struggling
exchange or failing the whole sync.

Results are attributed with a *permit*: ``before_request()`` returns the breaker's
generation, which changes at every transition, and ``record_*`` ignores results whose
permit is stale (a request sent while CLOSED that fails after the breaker already opened
must not count as the HALF_OPEN probe's failure).

Waiting uses ``threading.Condition.wait`` with a real-time timeout computed from ``clock``;
an injected clock therefore changes *when* the cooldown is over, not how long a blocked
caller sleeps before re-checking (transitions are also re-checked on every notification).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_DEFAULT_LOGGER = logging.getLogger(__name__)


class BreakerState(enum.StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Thread-safe circuit breaker; see the module docstring for the state machine."""

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        success_threshold: int = 3,
        *,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        """``name`` appears in every log line (use the exchange, e.g. ``"binance"``)."""
        if failure_threshold < 1 or success_threshold < 1:
            raise ValueError(
                f"CircuitBreaker({name!r}): failure_threshold ({failure_threshold}) and "
                f"success_threshold ({success_threshold}) must both be >= 1."
            )
        if cooldown_seconds < 0:
            raise ValueError(f"CircuitBreaker({name!r}): cooldown_seconds must be >= 0.")
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self.success_threshold = success_threshold
        self._clock = clock
        self._logger = logger or _DEFAULT_LOGGER
        self._cond = threading.Condition()
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._consecutive_failures = 0
        self._consecutive_successes = 0
        self._counts = {
            "failures": 0,
            "successes": 0,
            "neutral": 0,
            "stale_results": 0,
            "opens": 0,
            "transitions": 0,
            "waited": 0,
        }

    @property
    def state(self) -> BreakerState:
        """The current state (an OPEN breaker whose cooldown is over still reads OPEN)."""
        with self._cond:
            return self._state

    @property
    def counters(self) -> dict[str, int | str]:
        """Cumulative counters for metrics, plus the current state and streaks."""
        with self._cond:
            return {
                **self._counts,
                "state": self._state.value,
                "consecutive_failures": self._consecutive_failures,
                "consecutive_successes": self._consecutive_successes,
            }

    def before_request(self) -> int:
        """Block while OPEN (and while another HALF_OPEN probe is out); return a permit."""
        waited = False
        with self._cond:
            while True:
                if self._state is BreakerState.CLOSED:
                    return self._generation
                if self._state is BreakerState.OPEN:
                    remaining = self._opened_at + self.cooldown_seconds - self._clock()
                    if remaining <= 0:
                        self._transition(BreakerState.HALF_OPEN, "cooldown elapsed")
                        continue
                    waited = self._count_wait(waited)
                    self._cond.wait(timeout=remaining)
                    continue
                if not self._probe_in_flight:
                    self._probe_in_flight = True
                    return self._generation
                waited = self._count_wait(waited)
                self._cond.wait()

    def record_success(self, permit: int | None = None) -> None:
        """The request got a healthy answer from the exchange."""
        with self._cond:
            self._counts["successes"] += 1
            if self._is_stale(permit):
                return
            self._consecutive_failures = 0
            if self._state is BreakerState.HALF_OPEN:
                self._probe_in_flight = False
                self._consecutive_successes += 1
                if self._consecutive_successes >= self.success_threshold:
                    self._transition(
                        BreakerState.CLOSED,
                        f"{self._consecutive_successes} consecutive successful probes",
                    )
                self._cond.notify_all()

    def record_failure(self, permit: int | None = None, reason: str = "request failed") -> None:
        """The exchange looked down: 5xx, timeout, connection reset, truncated body."""
        with self._cond:
            self._counts["failures"] += 1
            if self._is_stale(permit):
                return
            self._consecutive_successes = 0
            if self._state is BreakerState.HALF_OPEN:
                self._probe_in_flight = False
                self._open(f"probe failed: {reason}")
            elif self._state is BreakerState.CLOSED:
                self._consecutive_failures += 1
                if self._consecutive_failures >= self.failure_threshold:
                    self._open(f"{self._consecutive_failures} consecutive failures, last: {reason}")

    def record_neutral(self, permit: int | None = None) -> None:
        """The answer says nothing about health (e.g. a 429); frees a HALF_OPEN probe slot."""
        with self._cond:
            self._counts["neutral"] += 1
            if self._is_stale(permit):
                return
            if self._state is BreakerState.HALF_OPEN:
                self._probe_in_flight = False
                self._cond.notify_all()

    @contextmanager
    def guard(self) -> Iterator[int]:
        """Wrap one request: success when the block exits normally, failure when it raises."""
        permit = self.before_request()
        try:
            yield permit
        except BaseException as exc:
            self.record_failure(permit, reason=type(exc).__name__)
            raise
        self.record_success(permit)

    def _is_stale(self, permit: int | None) -> bool:
        """True (and counted) when a result belongs to an earlier state of the breaker."""
        if permit is not None and permit != self._generation:
            self._counts["stale_results"] += 1
            return True
        return False

    def _count_wait(self, already_counted: bool) -> bool:
        """Count a caller that had to wait, once per ``before_request`` call."""
        if not already_counted:
            self._counts["waited"] += 1
        return True

    def _open(self, reason: str) -> None:
        """Enter OPEN and start the cooldown."""
        self._opened_at = self._clock()
        self._counts["opens"] += 1
        self._transition(BreakerState.OPEN, f"{reason}; cooling down {self.cooldown_seconds:g} s")

    def _transition(self, new: BreakerState, reason: str) -> None:
        """Change state, reset streaks, log it and wake every waiting caller."""
        old = self._state
        self._state = new
        self._generation += 1
        self._counts["transitions"] += 1
        self._consecutive_failures = 0
        self._consecutive_successes = 0
        self._probe_in_flight = False
        level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
        self._logger.log(
            level,
            "circuit breaker %r: %s -> %s (%s)",
            self.name,
            old.value,
            new.value,
            reason,
        )
        self._cond.notify_all()
