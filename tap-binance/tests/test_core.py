"""singer-sdk's standard tap tests against the simulator, plus the final bookmarks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from schemahub_core.sim import start_simulator
from singer_sdk.testing import get_tap_test_class
from tap_binance.tap import TapBinance
from tap_binance_testkit import base_config, bookmark, run_tap

# get_tap_test_class takes the config while this module loads; the `simulator` fixture fills
# it in (same dict) before the first test runs, so no server starts at import time.
CONFIG: dict = {"symbols": ["BTCUSDT", "ETHUSDT"], "backfill_source": "rest"}

TestTapBinance = get_tap_test_class(tap_class=TapBinance, config=CONFIG)


@pytest.fixture(scope="module", autouse=True)
def simulator():
    """A Binance simulator (seed 3, frozen clock) that CONFIG points at, for this module."""
    sim = start_simulator("binance", seed=3, port=0, clock="frozen")
    start = sim.clock.now() - timedelta(minutes=3)
    CONFIG.update(
        base_config(
            sim,
            symbols=["BTCUSDT", "ETHUSDT"],
            start_date=start.isoformat().replace("+00:00", "Z"),
        )
    )
    yield sim
    sim.stop()


def test_final_bookmark_is_the_newest_trade_of_each_symbol(simulator):
    run = run_tap(CONFIG)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        newest = simulator.oracle.newest_id(symbol)
        assert bookmark(run.final_state, symbol) == newest
        assert run.trades(symbol)[-1]["id"] == newest


def test_symbols_stream_is_the_exchange_info(simulator):
    run = run_tap(CONFIG)
    records = run.records("binance_symbols")
    assert [r["symbol"] for r in records] == [m["symbol"] for m in simulator.oracle.metadata]
    assert {r["exchange"] for r in records} == {"BINANCE"}
