"""Cold start, start_date and incremental runs: every trade exactly once, in order."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from tap_binance_testkit import base_config, bookmark, run_tap


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_cold_start_without_start_date_reads_only_the_lookback_window(sim):
    before = time.time()
    run = run_tap(base_config(sim, lookback_minutes=2))
    after = time.time()
    trades = run.trades("BTCUSDT")
    # The tap measures "now" on the wall clock during the run; the frozen market is at
    # the simulator's start, a few seconds earlier.
    earliest = sim.oracle.id_at_or_after("BTCUSDT", int((before - 120) * 1e6))
    latest = sim.oracle.id_at_or_after("BTCUSDT", int((after - 120) * 1e6))
    assert earliest <= trades[0]["id"] <= latest
    assert trades == sim.oracle.trades("BTCUSDT", trades[0]["id"])
    assert bookmark(run.final_state, "BTCUSDT") == sim.oracle.newest_id("BTCUSDT")


def test_start_date_starts_at_the_first_trade_at_or_after_it(sim):
    start = sim.clock.now() - timedelta(minutes=4, seconds=17)
    run = run_tap(base_config(sim, start_date=iso(start)))
    first = sim.oracle.id_at_or_after("BTCUSDT", start)
    assert run.trades("BTCUSDT") == sim.oracle.trades("BTCUSDT", first)
    assert len(run.trades("BTCUSDT")) > 4000  # several historicalTrades pages


def test_incremental_runs_emit_every_trade_once_in_order_and_state_follows(sim):
    start = sim.clock.now() - timedelta(minutes=2)
    config = base_config(sim, symbols=["BTCUSDT", "BNBBTC"], start_date=iso(start))
    first_ids = {s: sim.oracle.id_at_or_after(s, start) for s in ("BTCUSDT", "BNBBTC")}
    runs = [run_tap(config)]
    for _ in range(2):
        sim.advance(75)
        # start_date stays in the config: the bookmark must win over it.
        runs.append(run_tap(config, state=runs[-1].final_state))
    for symbol, first in first_ids.items():
        emitted = [t for run in runs for t in run.trades(symbol)]
        assert emitted == sim.oracle.trades(symbol, first), symbol
        assert bookmark(runs[-1].final_state, symbol) == sim.oracle.newest_id(symbol)
    # BNBBTC has missing ids: the ids are not contiguous, yet none was skipped or repeated.
    ids = [t["id"] for run in runs for t in run.trades("BNBBTC")]
    assert sim.oracle.missing_ids("BNBBTC", ids[0], ids[-1])


def test_a_run_with_nothing_new_emits_no_trade_and_keeps_the_bookmark(sim):
    config = base_config(sim, lookback_minutes=1)
    first = run_tap(config)
    second = run_tap(config, state=first.final_state)
    assert second.trades("BTCUSDT") == []
    assert bookmark(second.final_state, "BTCUSDT") == bookmark(first.final_state, "BTCUSDT")


def test_records_carry_symbol_assets_and_exchange(sim):
    run = run_tap(base_config(sim, symbols=["ETHUSDT"], lookback_minutes=1))
    record = run.records()[0]
    assert (record["symbol"], record["base_asset"], record["quote_asset"]) == (
        "ETHUSDT",
        "ETH",
        "USDT",
    )
    assert record["exchange"] == "BINANCE"
    assert isinstance(record["price"], str)
    assert isinstance(record["time"], int)
    assert record["time"] > 10**15  # microseconds
