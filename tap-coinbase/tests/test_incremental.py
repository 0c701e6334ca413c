"""From a watermark the tap emits exactly the trades after it, once each, in order."""

from __future__ import annotations

import logging

import pytest
from tap_coinbase_testkit import bookmark, run_tap, state_at, tap_config


@pytest.fixture
def sim(sim_factory):
    return sim_factory("coinbase", seed=11, rate_limit=False)


@pytest.mark.parametrize("after_inclusive", [False, True], ids=["after-strict", "after-inclusive"])
def test_run_from_state_emits_exactly_the_trades_after_the_watermark(sim_factory, after_inclusive):
    sim = sim_factory("coinbase", seed=11, rate_limit=False, after_inclusive=after_inclusive)
    oracle = sim.oracle
    newest = {p: oracle.newest_id(p) for p in ("BTC-USD", "ETH-USD")}
    watermarks = {"BTC-USD": newest["BTC-USD"] - 12_345, "ETH-USD": newest["ETH-USD"] - 2_001}

    out = run_tap(tap_config(sim, product_ids=["BTC-USD", "ETH-USD"]), state=state_at(watermarks))

    for product_id, watermark in watermarks.items():
        assert out.as_served(product_id) == oracle.trades(product_id, watermark + 1)
        assert bookmark(out.final_state, product_id) == newest[product_id]


def test_second_run_from_final_state_emits_only_trades_that_arrived_since(sim):
    oracle = sim.oracle
    start = oracle.newest_id("BTC-USD") - 3_000
    first = run_tap(tap_config(sim), state=state_at({"BTC-USD": start}))
    first_newest = oracle.newest_id("BTC-USD")
    assert bookmark(first.final_state, "BTC-USD") == first_newest

    sim.advance(300)  # five minutes of new trades become visible
    second = run_tap(tap_config(sim), state=first.final_state)

    assert oracle.newest_id("BTC-USD") > first_newest + 100
    assert second.as_served("BTC-USD") == oracle.trades("BTC-USD", first_newest + 1)
    assert bookmark(second.final_state, "BTC-USD") == oracle.newest_id("BTC-USD")
    third = run_tap(tap_config(sim), state=second.final_state)
    assert third.trades("BTC-USD") == []


def test_records_carry_product_metadata_and_coinbase_values_verbatim(sim):
    oracle = sim.oracle
    start = oracle.newest_id("ETH-USD") - 50
    out = run_tap(tap_config(sim, product_ids=["ETH-USD"]), state=state_at({"ETH-USD": start}))
    records = out.trades("ETH-USD")
    served = oracle.trades("ETH-USD", start + 1)
    assert [
        {**t, "product_id": "ETH-USD", "base_asset": "ETH", "quote_asset": "USD"} for t in served
    ] == records
    assert all(isinstance(r["trade_id"], int) and isinstance(r["price"], str) for r in records)


def test_gaps_of_a_sparse_product_are_logged_as_ranges_and_counted(sim, caplog):
    oracle = sim.oracle
    newest = oracle.newest_id("SOL-USD")
    start = newest - 5_000
    missing = oracle.missing_ids("SOL-USD", start + 1, newest)
    assert missing, "the simulator's SOL-USD is sparse; this test needs gaps"

    with caplog.at_level(logging.INFO):
        out = run_tap(tap_config(sim, product_ids=["SOL-USD"]), state=state_at({"SOL-USD": start}))

    emitted = [r["trade_id"] for r in out.trades("SOL-USD")]
    assert emitted == [i for i in range(start + 1, newest + 1) if i not in set(missing)]
    assert out.as_served("SOL-USD") == oracle.trades("SOL-USD", start + 1)
    gap_lines = [r.getMessage() for r in caplog.records if "missing at Coinbase" in r.getMessage()]
    assert sum(int(line.split(": ")[1].split()[0]) for line in gap_lines) == len(missing)
    assert any(
        f'"metric":"gap_trade_ids","value":{len(missing)}' in r.getMessage() for r in caplog.records
    )
