"""Circuit breaker: transitions, thresholds, cooldown, single HALF_OPEN probe, waiting threads."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from schemahub_core.breaker import BreakerState, CircuitBreaker


class ManualClock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(clock=None, **kwargs) -> CircuitBreaker:
    settings = {"failure_threshold": 5, "cooldown_seconds": 30.0, "success_threshold": 3}
    settings.update(kwargs)
    return CircuitBreaker("coinbase", clock=clock or ManualClock(), **settings)


def transitions(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "circuit breaker" in r.getMessage()]


def test_full_cycle_closed_open_half_open_closed_is_logged(caplog):
    caplog.set_level(logging.INFO, logger="schemahub_core.breaker")
    clock = ManualClock()
    breaker = make(clock)
    for _ in range(4):
        breaker.record_failure(breaker.before_request(), reason="HTTP 503")
    assert breaker.state is BreakerState.CLOSED  # 4 < 5
    breaker.record_failure(breaker.before_request(), reason="HTTP 503")
    assert breaker.state is BreakerState.OPEN

    clock.now += 30.0
    permit = breaker.before_request()  # cooldown over: this caller is the probe
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success(permit)
    breaker.record_success(breaker.before_request())
    assert breaker.state is BreakerState.HALF_OPEN  # 2 < 3
    breaker.record_success(breaker.before_request())
    assert breaker.state is BreakerState.CLOSED

    lines = transitions(caplog)
    assert len(lines) == 3
    assert "'coinbase': closed -> open (5 consecutive failures, last: HTTP 503" in lines[0]
    assert "'coinbase': open -> half_open (cooldown elapsed)" in lines[1]
    assert "'coinbase': half_open -> closed (3 consecutive successful probes)" in lines[2]
    levels = [r.levelno for r in caplog.records if "circuit breaker" in r.getMessage()]
    assert levels == [logging.WARNING, logging.INFO, logging.INFO]
    counters = breaker.counters
    assert counters["opens"] == 1
    assert counters["transitions"] == 3
    assert counters["failures"] == 5
    assert counters["successes"] == 3
    assert counters["state"] == "closed"


def test_a_success_resets_the_consecutive_failure_count():
    breaker = make()
    for _ in range(4):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


def test_neutral_results_such_as_429_neither_open_nor_reset():
    breaker = make(failure_threshold=2)
    breaker.record_failure()
    breaker.record_neutral()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


def test_failure_in_half_open_reopens_and_restarts_the_cooldown(caplog):
    caplog.set_level(logging.INFO, logger="schemahub_core.breaker")
    clock = ManualClock()
    breaker = make(clock, failure_threshold=1, cooldown_seconds=10.0)
    breaker.record_failure(breaker.before_request())
    clock.now += 10.0
    breaker.record_success(breaker.before_request())  # one good probe (of 3 needed)
    breaker.record_failure(breaker.before_request(), reason="Timeout")
    assert breaker.state is BreakerState.OPEN
    assert breaker.counters["opens"] == 2
    assert "half_open -> open (probe failed: Timeout" in transitions(caplog)[-1]
    clock.now += 9.9  # the new cooldown counts from the reopening
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.1
    breaker.before_request()
    assert breaker.state is BreakerState.HALF_OPEN


def test_results_of_requests_sent_before_a_transition_do_not_drive_the_new_state():
    clock = ManualClock()
    breaker = make(clock, failure_threshold=1, cooldown_seconds=1.0)
    old_permit = breaker.before_request()  # sent while CLOSED, still in flight
    breaker.record_failure(breaker.before_request())
    clock.now += 1.0
    probe = breaker.before_request()
    breaker.record_failure(old_permit)  # late failure of the CLOSED-era request
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.counters["stale_results"] == 1
    breaker.record_success(probe)
    assert breaker.counters["consecutive_successes"] == 1


def test_guard_records_success_or_failure():
    breaker = make(failure_threshold=1)
    with breaker.guard():
        pass
    assert breaker.counters["successes"] == 1
    with pytest.raises(ConnectionResetError), breaker.guard():
        raise ConnectionResetError
    assert breaker.state is BreakerState.OPEN


@pytest.mark.parametrize(
    "kwargs",
    [{"failure_threshold": 0}, {"success_threshold": 0}, {"cooldown_seconds": -1}],
)
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError, match="coinbase"):
        make(**kwargs)


def run_threads(count: int, target) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert all(not t.is_alive() for t in threads), "a thread is stuck in the breaker"


def test_open_breaker_makes_every_thread_wait_for_the_cooldown():
    cooldown = 0.3
    breaker = CircuitBreaker("binance", failure_threshold=1, cooldown_seconds=cooldown)
    breaker.record_failure()
    opened = time.monotonic()
    released: list[float] = []
    lock = threading.Lock()

    def caller(_: int) -> None:
        permit = breaker.before_request()
        with lock:
            released.append(time.monotonic() - opened)
        time.sleep(0.01)
        breaker.record_success(permit)

    run_threads(12, caller)
    assert len(released) == 12
    assert min(released) >= cooldown - 0.01  # nobody went through while OPEN
    assert max(released) < cooldown + 2.0  # and nobody was forgotten (probes closed it)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.counters["waited"] == 12


def test_half_open_lets_exactly_one_probe_through_at_a_time():
    breaker = CircuitBreaker(
        "binance", failure_threshold=1, cooldown_seconds=0.0, success_threshold=10_000
    )
    breaker.record_failure()
    in_flight = 0
    most = 0
    probes = 0
    lock = threading.Lock()

    def caller(_: int) -> None:
        nonlocal in_flight, most, probes
        for _ in range(3):
            permit = breaker.before_request()
            with lock:
                in_flight += 1
                probes += 1
                most = max(most, in_flight)
            time.sleep(0.002)
            with lock:
                in_flight -= 1
            breaker.record_success(permit)

    run_threads(16, caller)
    assert probes == 48
    assert most == 1
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.counters["consecutive_successes"] == 48


def test_probe_failure_sends_all_waiting_threads_back_to_waiting():
    breaker = CircuitBreaker(
        "coinbase", failure_threshold=1, cooldown_seconds=0.15, success_threshold=1
    )
    breaker.record_failure()
    results: list[str] = []
    lock = threading.Lock()

    def caller(index: int) -> None:
        permit = breaker.before_request()
        with lock:
            first = not results
            results.append("probe" if first else "after")
        if first:
            breaker.record_failure(permit, reason="HTTP 502")  # reopen: the rest wait again
        else:
            breaker.record_success(permit)

    started = time.monotonic()
    run_threads(6, caller)
    assert results.count("probe") == 1
    assert breaker.counters["opens"] == 2  # the first open plus the failed probe
    assert time.monotonic() - started >= 0.29  # two cooldowns
    assert breaker.state is BreakerState.CLOSED
