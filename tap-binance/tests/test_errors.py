"""Clear errors: unknown symbols, 451, other 4xx, Binance.US without a key; secrets unlogged."""

from __future__ import annotations

import logging
import time

import pytest
from schemahub_core.errors import FatalAPIError, IPBannedError
from schemahub_core.testing import assert_unreachable_api_url_fails_fast
from tap_binance.client import BinanceConfigError
from tap_binance.symbols import UnknownSymbolError
from tap_binance.tap import TapBinance
from tap_binance_testkit import base_config, run_tap


def test_unknown_symbol_names_it_and_suggests_close_matches(sim):
    with pytest.raises(UnknownSymbolError, match="BTCUSTD") as caught:
        run_tap(base_config(sim, symbols=["BTCUSTD"]))
    assert "BTCUSDT" in str(caught.value)


def test_glob_patterns_resolve_against_exchange_info_trading_symbols_only(sim):
    run = run_tap(base_config(sim, symbols=["*USDT"], lookback_minutes=1))
    trading = sorted(
        m["symbol"]
        for m in sim.oracle.metadata
        if m["symbol"].endswith("USDT") and m["status"] == "TRADING"
    )
    assert sorted({r["symbol"] for r in run.records()}) == trading
    assert "LUNAUSDT" not in trading  # status BREAK: a pattern does not pick it up


def test_restricted_location_451_points_at_binance_us(sim):
    sim.configure(restricted=True)
    with pytest.raises(FatalAPIError, match=r"api\.binance\.us") as caught:
        run_tap(base_config(sim))
    assert caught.value.status == 451


def test_other_4xx_is_fatal_with_binance_code_and_message(sim):
    sim.configure(waf=True)
    with pytest.raises(FatalAPIError) as caught:
        run_tap(base_config(sim))
    assert caught.value.status == 403
    assert "403" in str(caught.value)


def test_binance_us_without_api_key_stops_before_requesting_trades(sim):
    sim.configure(binance_us=True)
    with pytest.raises(BinanceConfigError, match="api_key"):
        run_tap(base_config(sim, exchange="BINANCEUS"))
    assert sim.stats.paths.get("/api/v3/historicalTrades", 0) == 0


def test_binance_us_with_a_key_works_never_logs_the_key_and_uses_rest(sim, caplog):
    sim.configure(binance_us=True)
    secret = "k3y-THAT-must-not-leak-0123456789"
    config = base_config(
        sim, exchange="BINANCEUS", api_key=secret, backfill_source="auto", lookback_minutes=1
    )
    with caplog.at_level(logging.DEBUG):
        run = run_tap(config)
    assert run.trades("BTCUSDT") == sim.oracle.trades("BTCUSDT", run.trades("BTCUSDT")[0]["id"])
    assert {r["exchange"] for r in run.records()} == {"BINANCEUS"}
    assert sim.stats.responses_429 == 0  # within the 1200/min Binance.US default
    assert not any(path.startswith("/data/") for path in sim.stats.paths)
    assert secret not in caplog.text
    assert all(secret not in str(m) for m in run.messages)


def test_an_ip_ban_418_stops_the_tap_saying_until_when(sim):
    sim.app.limiter.banned_until = time.time() + 300  # banned by earlier misbehaviour
    with pytest.raises(IPBannedError) as caught:
        run_tap(base_config(sim))
    error = caught.value
    assert error.banned_until is not None
    assert abs(error.banned_until.timestamp() - (time.time() + 300)) < 30
    assert error.banned_until.isoformat()[:16] in str(error)
    assert sim.stats.responses_418 == 1  # no retry during a ban: it would only extend it


def test_a_rejected_request_is_fatal_with_binance_code_and_msg(sim):
    tap = TapBinance(config=base_config(sim), parse_env_config=False)
    with pytest.raises(FatalAPIError) as caught:
        tap.api.historical_trades("NOSUCHSYMBOL", 1)
    assert (caught.value.status, caught.value.code) == (400, -1121)
    assert "Invalid symbol." in str(caught.value)


def test_progress_lines_show_done_total_rate_and_eta(sim, caplog):
    with caplog.at_level(logging.INFO):
        run = run_tap(base_config(sim, lookback_minutes=1))
    total = len(run.trades("BTCUSDT"))
    assert f"binance_trades BTCUSDT: {total}/{total} trade ids (100.0%)" in caplog.text
    assert "ids/s, ETA" in caplog.text
    assert "partitions so far: " in caplog.text  # the total across symbols
    assert '"metric":"weight_budget_granted_weight"' in caplog.text


def test_api_url_with_nothing_listening_fails_within_seconds_naming_the_url():
    assert_unreachable_api_url_fails_fast(
        lambda url: run_tap({"api_url": url, "symbols": ["BTCUSDT"]})
    )
