"""Without a bookmark: start_date is found by an id search; otherwise only the lookback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tap_coinbase_testkit import bookmark, run_tap, state_at, tap_config

TRADES_PATH = "/products/BTC-USD/trades"


@pytest.fixture
def sim(sim_factory):
    return sim_factory("coinbase", seed=31, rate_limit=False, history_trades=400_000)


def test_start_date_lands_on_the_first_trade_at_or_after_it(sim):
    oracle = sim.oracle
    newest = oracle.newest_id("BTC-USD")
    start_trade = oracle.trades("BTC-USD", newest - 6_000, newest - 6_000)[0]
    # A start instant strictly between two trades' times: the later trade is the answer.
    start = datetime.fromisoformat(start_trade["time"]) - timedelta(microseconds=1)
    expected_first = oracle.id_at_or_after("BTC-USD", start)
    assert expected_first == start_trade["trade_id"]

    sim.stats.reset()
    out = run_tap(tap_config(sim, start_date=start.isoformat()))

    assert out.as_served("BTC-USD") == oracle.trades("BTC-USD", expected_first)
    pages = -(-(newest - expected_first + 1) // 999)
    search_requests = sim.stats.snapshot()["paths"][TRADES_PATH] - pages - 1
    assert search_requests <= 40, f"id search took {search_requests} requests"


def test_a_bookmark_wins_over_start_date(sim):
    oracle = sim.oracle
    watermark = oracle.newest_id("BTC-USD") - 500
    out = run_tap(
        tap_config(sim, start_date="2020-01-01T00:00:00Z"),
        state=state_at({"BTC-USD": watermark}),
    )
    assert out.as_served("BTC-USD") == oracle.trades("BTC-USD", watermark + 1)


def test_start_date_after_the_newest_trade_emits_nothing(sim):
    future = (sim.clock.now() + timedelta(days=1)).isoformat()
    out = run_tap(tap_config(sim, start_date=future))
    assert out.trades("BTC-USD") == []


def test_cold_start_reads_only_the_last_lookback_minutes(sim_factory):
    # Market time follows the wall clock, as the real exchange does.
    sim = sim_factory("coinbase", seed=32, rate_limit=False, clock="realtime")
    oracle = sim.oracle
    before = datetime.now(UTC)
    out = run_tap(tap_config(sim, lookback_minutes=3))
    after = datetime.now(UTC)

    emitted = out.trades("BTC-USD")
    first = emitted[0]["trade_id"]
    # The tap reads the clock once during its run; its window starts between these two.
    earliest = oracle.id_at_or_after("BTC-USD", before - timedelta(minutes=3))
    latest = oracle.id_at_or_after("BTC-USD", after - timedelta(minutes=3))
    assert earliest <= first <= latest
    last = emitted[-1]["trade_id"]
    assert out.as_served("BTC-USD") == oracle.trades("BTC-USD", first, last)
    assert bookmark(out.final_state, "BTC-USD") == last
    assert last >= oracle.newest_id("BTC-USD") - 100  # read up to (about) now
