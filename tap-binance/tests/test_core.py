"""singer-sdk's standard tap tests against the simulator, plus the final bookmarks."""

from __future__ import annotations

from datetime import timedelta

from schemahub_core.sim import start_simulator
from singer_sdk.testing import get_tap_test_class
from tap_binance.tap import TapBinance
from tap_binance_testkit import base_config, bookmark, run_tap

# Started at import time: get_tap_test_class needs the config while the module loads.
SIM = start_simulator("binance", seed=3, port=0, clock="frozen")
START = SIM.clock.now() - timedelta(minutes=3)
CONFIG = base_config(
    SIM, symbols=["BTCUSDT", "ETHUSDT"], start_date=START.isoformat().replace("+00:00", "Z")
)

TestTapBinance = get_tap_test_class(tap_class=TapBinance, config=CONFIG)


def test_final_bookmark_is_the_newest_trade_of_each_symbol():
    run = run_tap(CONFIG)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        newest = SIM.oracle.newest_id(symbol)
        assert bookmark(run.final_state, symbol) == newest
        assert run.trades(symbol)[-1]["id"] == newest


def test_symbols_stream_is_the_exchange_info():
    run = run_tap(CONFIG)
    records = run.records("binance_symbols")
    assert [r["symbol"] for r in records] == [m["symbol"] for m in SIM.oracle.metadata]
    assert {r["exchange"] for r in records} == {"BINANCE"}
