"""Deterministic markets, moving clocks, and the oracle's exactness while trades arrive."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import requests
from schemahub_core.sim import start_simulator

START = "2026-06-19T16:00:00Z"


def page(sim, product, **params):
    response = requests.get(f"{sim.url}/products/{product}/trades", params=params, timeout=10)
    assert response.status_code == 200
    return response.json()


def test_same_seed_same_trades_other_seed_other_trades(sim_factory):
    a = sim_factory("coinbase", seed=5, start_time=START)
    b = sim_factory("coinbase", seed=5, start_time=START)
    c = sim_factory("coinbase", seed=6, start_time=START)
    assert page(a, "ETH-USD") == page(b, "ETH-USD")
    assert page(a, "ETH-USD") != page(c, "ETH-USD")


def test_history_depth_is_configurable_and_prices_are_plausible(sim_factory):
    sim = sim_factory("coinbase", seed=2, start_time=START, history_trades=1_000_000)
    oracle = sim.oracle
    assert oracle.newest_id("BTC-USD") - oracle.first_id("BTC-USD") + 1 >= 1_000_000 - 5
    oldest = page(sim, "BTC-USD", after=oracle.first_id("BTC-USD") + 1000)
    newest = page(sim, "BTC-USD")
    assert newest[0]["time"] < "2026-06-19T16:00:00.000001Z" < "2026-06-19T16:00:01Z"
    for trade in (oldest[0], newest[0]):
        assert 30_000 < float(trade["price"]) < 130_000
    span_s = (
        datetime.fromisoformat(newest[0]["time"]) - datetime.fromisoformat(oldest[-1]["time"])
    ).total_seconds()
    assert 1e6 / 8 / 2 < span_s < 1e6 / 8 * 2, "about 8 trades/s on average"


def test_frozen_clock_reveals_new_trades_only_when_advanced(coinbase_sim):
    oracle = coinbase_sim.oracle
    before = oracle.newest_id("BTC-USD")
    time.sleep(0.2)
    assert oracle.newest_id("BTC-USD") == before
    coinbase_sim.advance(60)
    after = oracle.newest_id("BTC-USD")
    assert 60 < after - before < 60 * 8 * 6
    assert page(coinbase_sim, "BTC-USD", limit=1)[0]["trade_id"] == after


def test_realtime_clock_keeps_producing_trades(sim_factory):
    sim = sim_factory("coinbase", seed=4, clock="realtime")
    first = sim.oracle.newest_id("BTC-USD")
    time.sleep(1.5)
    assert sim.oracle.newest_id("BTC-USD") > first


def test_oracle_is_exact_while_trades_keep_arriving(sim_factory):
    sim = sim_factory("coinbase", seed=9, clock="accelerated", speed=300, rate_limit=False)
    oracle = sim.oracle
    top = page(sim, "SOL-USD")
    seen = list(top)
    for _ in range(5):  # walk back while hundreds of new trades arrive per second
        seen += page(sim, "SOL-USD", after=seen[-1]["trade_id"])
    assert oracle.newest_id("SOL-USD") > top[0]["trade_id"], "trades arrived meanwhile"
    ascending = seen[::-1]
    assert ascending == oracle.trades(
        "SOL-USD", ascending[0]["trade_id"], ascending[-1]["trade_id"]
    )
    newer = page(sim, "SOL-USD", before=top[0]["trade_id"])
    assert newer[::-1] == oracle.trades("SOL-USD", top[0]["trade_id"] + 1, newer[0]["trade_id"])


def test_oracle_time_range_matches_trade_times(coinbase_sim):
    oracle = coinbase_sim.oracle
    newest = oracle.trades("ETH-USD", oracle.newest_id("ETH-USD") - 3000)
    start, end = newest[100]["time"], newest[2000]["time"]
    between = oracle.trades_between("ETH-USD", start, end)
    assert between[0]["time"] == start
    assert between[-1]["time"] < end
    assert between == [t for t in newest if start <= t["time"] < end]
    assert oracle.id_at_or_after("ETH-USD", start) == between[0]["trade_id"]
    future = datetime(2100, 1, 1, tzinfo=UTC)
    assert oracle.id_at_or_after("ETH-USD", future) is None


def test_binance_oracle_exposes_symbols_and_aggregates(binance_sim):
    oracle = binance_sim.oracle
    assert {"BTCUSDT", "LUNAUSDT"} <= set(oracle.symbols)
    assert {s["symbol"]: s["status"] for s in oracle.metadata}["LUNAUSDT"] == "BREAK"
    newest = oracle.newest_id("BNBBTC")
    aggs = oracle.agg_trades("BNBBTC", newest - 500, time_unit="ms")
    served = requests.get(
        f"{binance_sim.url}/api/v3/aggTrades",
        params={"symbol": "BNBBTC", "fromId": aggs[0]["a"], "limit": 1000},
        timeout=10,
    ).json()
    assert served == aggs
    gaps = oracle.missing_ids("BNBBTC", newest - 5000, newest)
    assert gaps
    assert not set(gaps) & {t["id"] for t in oracle.trades("BNBBTC", newest - 5000)}


def test_start_simulator_works_at_import_time_and_as_context_manager():
    with start_simulator("coinbase", seed=1) as sim:
        assert requests.get(f"{sim.url}/products", timeout=5).status_code == 200
        url = sim.url
    try:
        requests.get(f"{url}/products", timeout=2)
        raise AssertionError("the simulator still answers after stop()")
    except requests.ConnectionError:
        pass


def test_binance_oracle_is_exact_while_trades_keep_arriving(sim_factory):
    sim = sim_factory("binance", seed=8, clock="accelerated", speed=200, rate_limit=False)
    oracle = sim.oracle
    newest_at_start = oracle.newest_id("BTCUSDT")
    from_id = newest_at_start - 2500
    served: list[dict] = []
    deadline = time.monotonic() + 30
    # Walk forward until the served trades include some that arrived after the test started.
    while not served or served[-1]["id"] <= newest_at_start:
        assert time.monotonic() < deadline, "no new trade arrived in 30 s of accelerated clock"
        batch = requests.get(
            f"{sim.url}/api/v3/historicalTrades",
            params={"symbol": "BTCUSDT", "fromId": from_id, "limit": 1000},
            headers={"X-MBX-TIME-UNIT": "MICROSECOND"},
            timeout=10,
        ).json()
        if not batch:
            time.sleep(0.05)
            continue
        served += batch
        from_id = batch[-1]["id"] + 1
    ids = [t["id"] for t in served]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert len(ids) > 2500
    assert served == oracle.trades("BTCUSDT", ids[0], ids[-1])
