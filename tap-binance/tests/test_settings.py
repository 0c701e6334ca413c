"""Settings defaults that differ between Binance and Binance.US (no network)."""

from __future__ import annotations

import pytest
from tap_binance.client import BinanceConfigError
from tap_binance.tap import TapBinance


def tap(**config) -> TapBinance:
    return TapBinance(config=config, parse_env_config=False)


def reads_bulk_dumps(binance: TapBinance) -> bool:
    """What backfill_source "auto" resolved to; the stream decides it only here, offline."""
    return binance.streams["binance_trades"]._dump_store() is not None  # noqa: SLF001


def test_binance_com_defaults():
    binance = tap()
    assert binance.config["api_url"] == "https://api.binance.com"
    assert binance.config["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert binance.config["lookback_minutes"] == 45
    assert 0.8 <= binance.config["weight_budget_fraction"] < 1
    assert binance.exchange == "BINANCE"
    assert binance.api.budget.limit_per_minute == 6000
    assert reads_bulk_dumps(binance)  # auto = bulk


def test_binance_us_defaults_to_1200_weight_and_rest_only():
    us = tap(api_url="https://api.binance.us", api_key="x")
    assert us.exchange == "BINANCEUS"
    assert us.api.budget.limit_per_minute == 1200
    assert not reads_bulk_dumps(us)  # auto = rest on Binance.US


def test_an_explicit_weight_limit_wins():
    assert tap(weight_limit_per_minute=2400).api.budget.limit_per_minute == 2400


@pytest.mark.parametrize("fraction", [0, 1, 1.5])
def test_a_budget_fraction_outside_0_1_is_refused(fraction):
    with pytest.raises(BinanceConfigError, match="weight_budget_fraction"):
        _ = tap(weight_budget_fraction=fraction).api
