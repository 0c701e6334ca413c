"""Under 429 storms, 5xx bursts, resets, slow pages and cut bodies no trade is lost or doubled."""

from __future__ import annotations

import logging

import pytest
import tap_coinbase.client
from schemahub_core.testing import assert_unreachable_api_url_fails_fast
from tap_coinbase_testkit import bookmark, run_tap, state_at, tap_config

# Each fault runs under one reading of `after`, alternating, to keep the suite short; both
# readings are covered fault-free in test_incremental.py.
FAULTS = {
    "429-without-retry-after": {"fault_429": 0.25, "retry_after": False},
    "429-with-retry-after": {"fault_429": 0.15, "retry_after": True, "after_inclusive": True},
    "5xx-bursts": {"fault_5xx": 0.2, "fault_5xx_status": 502},
    "connection-resets": {"fault_reset": 0.2, "after_inclusive": True},
    "cut-bodies": {"fault_truncate": 0.2},
    "html-error-pages": {"fault_html": 0.2, "after_inclusive": True},
    "slow-pages": {"fault_slow": 0.2, "slow_seconds": 0.4},
    "everything-at-once": {
        "fault_429": 0.05,
        "fault_5xx": 0.05,
        "fault_reset": 0.05,
        "fault_truncate": 0.05,
        "fault_slow": 0.05,
        "slow_seconds": 0.3,
        "after_inclusive": True,
    },
}


@pytest.mark.parametrize("faults", list(FAULTS.values()), ids=list(FAULTS))
def test_faults_lose_and_duplicate_no_trade(sim_factory, faults):
    sim = sim_factory(
        "coinbase",
        seed=21,
        rate_limit=False,
        fault_path="/products/",
        **faults,
    )
    oracle = sim.oracle
    newest = oracle.newest_id("BTC-USD")
    start = newest - 10_000

    out = run_tap(tap_config(sim), state=state_at({"BTC-USD": start}))

    assert out.as_served("BTC-USD") == oracle.trades("BTC-USD", start + 1)
    assert bookmark(out.final_state, "BTC-USD") == newest
    assert sum(sim.stats.snapshot()["faults"].values()) > 0, "no fault was injected"


def test_real_rate_limit_storm_is_absorbed_without_loss(sim_factory):
    # The client is configured 5x over Coinbase's 10 req/s: the server's own bucket answers
    # 429 without Retry-After, and the tap must back off and still deliver every trade.
    sim = sim_factory("coinbase", seed=22, rate_limit=True, rate_per_second=10, burst=15)
    oracle = sim.oracle
    newest = oracle.newest_id("BTC-USD")
    start = newest - 30_000

    out = run_tap(
        tap_config(sim, max_requests_per_second=50, concurrency=8),
        state=state_at({"BTC-USD": start}),
    )

    assert sim.stats.responses_429 > 0
    assert out.as_served("BTC-USD") == oracle.trades("BTC-USD", start + 1)


def test_a_streak_of_server_errors_opens_the_breaker_then_recovers(
    sim_factory, caplog, monkeypatch
):
    # A short streak and cooldown keep the test quick; the state machine is the same.
    monkeypatch.setattr(tap_coinbase.client, "BREAKER_FAILURES", 3)
    monkeypatch.setattr(tap_coinbase.client, "BREAKER_COOLDOWN_SECONDS", 0.2)
    sim = sim_factory(
        "coinbase", seed=23, rate_limit=False, fault_path="/products/", fault_5xx_next=4
    )
    oracle = sim.oracle
    newest = oracle.newest_id("BTC-USD")
    start = newest - 5_000

    with caplog.at_level(logging.INFO):
        out = run_tap(tap_config(sim), state=state_at({"BTC-USD": start}))

    transitions = [r.getMessage() for r in caplog.records if "circuit breaker" in r.getMessage()]
    assert any("-> open" in line for line in transitions), transitions
    assert any("-> closed" in line for line in transitions), transitions
    assert out.as_served("BTC-USD") == oracle.trades("BTC-USD", start + 1)


def test_api_url_with_nothing_listening_fails_within_seconds_naming_the_url():
    assert_unreachable_api_url_fails_fast(
        lambda url: run_tap({"api_url": url, "product_ids": ["BTC-USD"]})
    )
