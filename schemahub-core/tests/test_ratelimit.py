"""Rate limiters: the burst + rate*T bound under 32 threads, Binance weight budget per minute."""

from __future__ import annotations

import bisect
import heapq
import random
import threading
from collections import defaultdict
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from schemahub_core.ratelimit import TokenBucket, WeightBudget


class SimulatedClock:
    """Virtual time shared by worker threads, advanced like a discrete-event simulator.

    Time stands still while any worker runs; when every live worker is inside ``sleep``,
    the clock jumps to the earliest wake-up time and wakes exactly those sleepers. A grant
    recorded right after ``acquire`` returns therefore carries its exact reservation time,
    whatever the OS scheduler does with the 32 real threads.
    """

    def __init__(self, start: float, workers: int) -> None:
        self._now = start
        self._workers = workers
        self._asleep = 0
        self._wakeups: list[float] = []
        self._cond = threading.Condition()

    def __call__(self) -> float:
        with self._cond:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._cond:
            wake = self._now + seconds
            heapq.heappush(self._wakeups, wake)
            self._asleep += 1
            self._advance_if_all_asleep()
            while self._now < wake:
                self._cond.wait()

    def worker_done(self) -> None:
        with self._cond:
            self._workers -= 1
            self._advance_if_all_asleep()

    def _advance_if_all_asleep(self) -> None:
        if self._wakeups and self._asleep == self._workers:
            self._now = max(self._now, self._wakeups[0])
            while self._wakeups and self._wakeups[0] <= self._now:
                heapq.heappop(self._wakeups)
                self._asleep -= 1
            self._cond.notify_all()


def hammer(limiter_factory, clock, threads, per_thread, weights, phase=None):
    """Run ``threads`` workers doing acquire/think loops; return sorted (time, weight) grants.

    With ``phase``, every worker pauses after each 3 grants until the next multiple of
    ``phase`` seconds: the limiter goes idle, refills completely, then all threads burst at
    the same instant -- the situation where an over-full bucket would show.
    """
    limiter = limiter_factory()
    grants: list[tuple[float, int]] = []
    grants_lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for i in range(per_thread):
                if phase is not None and i % 3 == 0:
                    clock.sleep(phase - clock() % phase)
                # Sometimes "work" between requests so the bucket refills in odd amounts.
                clock.sleep(rng.choice([0.0, 0.0, 0.0, 0.013, 0.25, 1.7]))
                weight = rng.choice(weights)
                limiter.acquire(weight)
                with grants_lock:
                    grants.append((clock(), weight))
        except BaseException as exc:
            errors.append(exc)
        finally:
            clock.worker_done()

    pool = [threading.Thread(target=worker, args=(seed,)) for seed in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=30)
    assert not errors, errors
    assert all(not t.is_alive() for t in pool), "a worker is stuck"
    assert len(grants) == threads * per_thread
    return sorted(grants), limiter


def max_weight_in_windows(grants: list[tuple[float, int]], length: float) -> float:
    """Largest total weight granted in [t, t + length] over every grant time t."""
    times = [t for t, _ in grants]
    prefix = [0]
    for _, weight in grants:
        prefix.append(prefix[-1] + weight)
    worst = 0
    for i, start in enumerate(times):
        end = bisect.bisect_right(times, start + length + 1e-9)
        worst = max(worst, prefix[end] - prefix[i])
    return worst


def test_token_bucket_never_exceeds_burst_plus_rate_times_window_with_32_threads():
    rate, burst = 10.0, 15.0
    clock = SimulatedClock(start=1000.0, workers=32)
    grants, bucket = hammer(
        lambda: TokenBucket(rate, burst, clock=clock, sleep=clock.sleep),
        clock,
        threads=32,
        per_thread=40,
        weights=[1, 1, 2, 3, 5, 15],
        phase=100.0,
    )
    for window in (0.0, 0.05, 0.1, 0.5, 1.0, 1.3, 2.0, 5.0, 10.0, 60.0):
        assert max_weight_in_windows(grants, window) <= burst + rate * window + 1e-6, window
    # The limiter was the bottleneck (not idle threads): long-run throughput is ~rate.
    # The limiter was the bottleneck during each burst phase: right after a phase start,
    # grants run at the full burst + rate * T (less at most one queued request's weight).
    assert max_weight_in_windows(grants, 10.0) >= burst + rate * 10.0 - 15
    total = sum(w for _, w in grants)
    assert bucket.counters["granted_weight"] == total
    assert bucket.counters["waits"] > 0


def test_token_bucket_serves_callers_in_arrival_order():
    """A big request is not starved: smaller ones arriving after it queue behind it."""
    now = [0.0]
    waits: list[float] = []
    bucket = TokenBucket(10, 15, clock=lambda: now[0], sleep=waits.append)
    assert bucket.acquire(15) == 0.0  # the full burst
    assert bucket.acquire(10) == pytest.approx(1.0)  # reserved 10 tokens ahead
    assert bucket.acquire(1) == pytest.approx(1.1)  # queued behind the big one
    assert waits == [pytest.approx(1.0), pytest.approx(1.1)]
    now[0] = 10.0  # long idle: refills to burst, never above
    assert bucket.acquire(15) == 0.0
    assert bucket.acquire(1) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"rate": 0, "burst": 5}, "rate must be > 0"),
        ({"rate": -1, "burst": 5}, "rate must be > 0"),
        ({"rate": 1, "burst": 0}, "burst must be >= 1"),
    ],
)
def test_token_bucket_rejects_invalid_settings(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        TokenBucket(**kwargs)


@pytest.mark.parametrize("weight", [0, -3, 1.5, True])
def test_acquire_rejects_non_positive_or_non_integer_weight(weight):
    with pytest.raises(ValueError, match="positive integer"):
        TokenBucket(1, 5).acquire(weight)


def test_acquire_rejects_weight_above_burst_or_budget_instead_of_hanging():
    with pytest.raises(ValueError, match=r"exceeds the bucket burst \(5\)"):
        TokenBucket(1, 5).acquire(6)
    with pytest.raises(ValueError, match=r"per-minute weight budget \(90\)"):
        WeightBudget(100, 0.9).acquire(91)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"limit_per_minute": 0}, "must be > 0"),
        ({"limit_per_minute": 6000, "fraction": 0}, r"must be in \(0, 1\]"),
        ({"limit_per_minute": 6000, "fraction": 1.5}, r"must be in \(0, 1\]"),
        ({"limit_per_minute": 1, "fraction": 0.5}, "no weight to spend"),
    ],
)
def test_weight_budget_rejects_invalid_settings(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        WeightBudget(**kwargs)


def test_weight_budget_never_grants_more_than_the_budget_per_server_minute_with_32_threads():
    clock = SimulatedClock(start=1_700_000_037.5, workers=32)  # mid-minute start
    grants, budget = hammer(
        lambda: WeightBudget(600, 0.9, clock=clock, sleep=clock.sleep),
        clock,
        threads=32,
        per_thread=25,
        weights=[1, 4, 20, 25],
    )
    per_minute: dict[int, int] = defaultdict(int)
    for t, weight in grants:
        per_minute[int(t // 60)] += weight
    assert budget.budget == 540
    assert max(per_minute.values()) <= 540
    # Full minutes were actually saturated, so the bound was exercised.
    full = sorted(per_minute)[1:-1]
    assert full
    assert all(per_minute[m] > 540 - 25 for m in full)


def headers(used: int, served_at: float | None = None) -> dict[str, str]:
    out = {"x-mbx-used-weight-1m": str(used)}  # lower case: lookup must ignore case
    if served_at is not None:
        out["Date"] = format_datetime(datetime.fromtimestamp(served_at, UTC), usegmt=True)
    return out


class StepClock:
    """Single-thread clock: sleeping advances it by exactly the requested time."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


MINUTE_START = 1_700_000_040.0  # a UTC minute boundary (divisible by 60)


def test_weight_budget_counts_other_clients_usage_reported_by_the_server():
    clock = StepClock(MINUTE_START + 10)
    budget = WeightBudget(600, 0.9, clock=clock, sleep=clock.sleep)
    budget.observe(headers(500, served_at=clock.now))  # other clients on this IP used 500
    assert budget.acquire(25) == 0.0  # 525 <= 540
    waited = budget.acquire(25)  # 550 > 540: must wait for the next server minute
    assert waited == pytest.approx(50.0)
    assert clock.now == pytest.approx(MINUTE_START + 60)
    assert budget.counters["used_this_minute"] == 25  # the new minute started from zero


def test_weight_budget_does_not_trust_a_lower_server_reading_within_a_minute():
    clock = StepClock(MINUTE_START + 1)
    budget = WeightBudget(600, 0.9, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        budget.acquire(100)
    budget.observe(headers(50, served_at=clock.now))  # lags behind our requests in flight
    assert budget.counters["used_this_minute"] == 500
    assert budget.counters["server_reading"] == 50
    assert budget.acquire(100) == pytest.approx(59.0)  # 600 > 540: next minute


def test_weight_budget_ignores_a_reading_from_a_minute_that_is_already_over():
    """A response served at 59.8 s and read at 60.2 s describes the old, reset counter."""
    clock = StepClock(MINUTE_START + 60.2)
    budget = WeightBudget(600, 0.9, clock=clock, sleep=clock.sleep)
    budget.observe(headers(530, served_at=MINUTE_START + 59.8))
    assert budget.counters["used_this_minute"] == 0
    assert budget.acquire(100) == 0.0


def test_weight_budget_adopts_a_reading_without_date_for_the_current_minute():
    """Without a Date header the reading is charged to now: it can only make us wait."""
    clock = StepClock(MINUTE_START + 0.2)
    budget = WeightBudget(600, 0.9, clock=clock, sleep=clock.sleep)
    budget.observe(headers(530))
    assert budget.acquire(20) == pytest.approx(59.8)


def test_weight_budget_ignores_missing_or_garbled_readings():
    clock = StepClock(MINUTE_START)
    budget = WeightBudget(600, 0.9, clock=clock, sleep=clock.sleep)
    budget.observe({})
    budget.observe({"X-MBX-USED-WEIGHT-1M": "lots"})
    assert budget.counters["used_this_minute"] == 0


def test_retry_after_pauses_every_caller_until_it_ends_even_with_budget_left():
    clock = StepClock(MINUTE_START + 5)
    budget = WeightBudget(600, 0.9, clock=clock, sleep=clock.sleep)
    budget.observe({"Retry-After": "12", **headers(100, served_at=clock.now)})
    assert budget.acquire(1) == pytest.approx(12.0)  # 101 <= 540, yet the 429 is in force
    assert clock.now == pytest.approx(MINUTE_START + 17)
    assert budget.acquire(1) == 0.0  # the pause is over


def test_a_throttled_reading_shrinks_the_budget_but_never_below_its_floor():
    clock = StepClock(MINUTE_START)
    budget = WeightBudget(600, 0.9, clock=clock, sleep=clock.sleep)
    budget.observe(headers(200))  # a low reading without Retry-After changes nothing
    assert budget.budget == 540
    budget.observe({"Retry-After": "1", **headers(200)})  # the server stopped us at 200
    assert budget.budget == 180
    budget.observe({"Retry-After": "1", **headers(10)})
    assert budget.budget == 540 // 4
    floored = WeightBudget(600, 0.9, clock=clock, sleep=clock.sleep, min_budget=300)
    floored.observe({"Retry-After": "1", **headers(10)})
    assert floored.budget == 300


def test_token_bucket_observe_is_a_no_op():
    bucket = TokenBucket(1, 2)
    bucket.observe(headers(10_000))
    assert bucket.acquire(2) == 0.0
