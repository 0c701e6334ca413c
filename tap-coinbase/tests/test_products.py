"""Product resolution: globs, unknown ids with close matches, delisted products skipped."""

from __future__ import annotations

import logging

import pytest
from schemahub_core.errors import FatalAPIError
from tap_coinbase.client import CoinbaseAPI
from tap_coinbase.products import UnknownProductError
from tap_coinbase.tap import TapCoinbase
from tap_coinbase_testkit import run_tap, tap_config


@pytest.fixture
def sim(sim_factory):
    return sim_factory("coinbase", seed=41, rate_limit=False)


def test_products_stream_emits_every_listed_product_as_served(sim):
    out = run_tap(tap_config(sim, lookback_minutes=0.05))
    by_id = {p["id"]: p for p in sim.oracle.metadata}
    assert {p["id"]: p for p in out.records["coinbase_products"]} == by_id


def test_glob_patterns_resolve_against_products_and_skip_delisted(sim, caplog):
    tap = TapCoinbase(
        config=tap_config(sim, product_ids=["*-USD", "BTC-USD"]), parse_env_config=False
    )
    with caplog.at_level(logging.WARNING):
        resolved = tap.product_ids
    listed = [p["id"] for p in sim.oracle.metadata]
    delisted = [p["id"] for p in sim.oracle.metadata if p["status"] == "delisted"]
    assert delisted, "the simulator lists a delisted product"
    assert resolved == sorted(pid for pid in listed if pid.endswith("-USD") and pid not in delisted)
    assert any(
        delisted[0] in r.getMessage() and "delisted" in r.getMessage() for r in caplog.records
    )


def test_unknown_product_fails_naming_it_and_close_matches(sim):
    tap = TapCoinbase(config=tap_config(sim, product_ids=["BTC-USDD"]), parse_env_config=False)
    with pytest.raises(UnknownProductError) as error:
        _ = tap.product_ids
    assert "'BTC-USDD'" in str(error.value)
    assert "Did you mean: BTC-USD" in str(error.value)


def test_other_4xx_is_fatal_with_coinbase_message(sim):
    api = CoinbaseAPI.from_config(tap_config(sim), logging.getLogger("test"))
    with pytest.raises(FatalAPIError) as error:
        api.trades_before("DOGE-EUR", None, 1)
    assert error.value.status == 404
    assert "NotFound" in str(error.value)
    assert "DOGE-EUR" in str(error.value)
    assert sim.stats.snapshot()["status"] == {404: 1}  # not retried


def test_page_size_over_coinbase_maximum_is_refused_with_an_explanation(sim):
    with pytest.raises(ValueError, match="page_size=5000"):
        TapCoinbase(config=tap_config(sim, page_size=5000), parse_env_config=False)
