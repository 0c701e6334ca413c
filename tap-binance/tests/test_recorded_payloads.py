"""Binance's own example answers: the tap parses them, and the simulator answers alike.

The simulator and its oracle share one formatter, so a simulator whose wire format drifted
from the real API would pass every other test. These payloads come from Binance's
documentation (recorded/README.md names each source).
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import UTC, datetime

import jsonschema
import pyarrow as pa
import pytest
import requests
from schemahub_core.mapping import load_mappings
from schemahub_core.testing import json_shape, recorded_answer, serve_bodies, simulator_fixture
from tap_binance.client import BinanceAPI
from tap_binance.streams import SymbolsStream, TradesStream
from tap_binance.symbols import resolve_symbols

LOGGER = logging.getLogger("tap-binance-recorded")


# The recorded body of one answer, byte for byte; the simulator answering alike.
recorded = functools.partial(recorded_answer, __file__)
simulator = simulator_fixture("binance", seed=11, clock="frozen")


@pytest.fixture
def api():
    """The tap's own API client, pointed at a server that answers with the recorded bodies."""
    bodies = {
        "/api/v3/exchangeInfo": recorded("exchange_info"),
        "/api/v3/historicalTrades": recorded("historical_trades"),
        "/api/v3/aggTrades": recorded("agg_trades"),
    }
    with serve_bodies(bodies) as url:
        yield BinanceAPI(
            url,
            api_key=None,
            weight_limit_per_minute=6000,
            weight_budget_fraction=0.5,
            concurrency=1,
            user_agent="tap-binance/test",
            logger=LOGGER,
        )


def test_documented_trade_becomes_a_record_of_the_stream_schema_and_a_unified_row(api):
    symbols = api.exchange_info()
    assert resolve_symbols(["ETH*"], symbols, "https://api.binance.com") == ["ETHBTC"]
    assert api.newest_trade("ETHBTC") == (27781, 1498793709153)
    (meta,) = symbols
    constants = {
        "symbol": "ETHBTC",
        "base_asset": meta["baseAsset"],
        "quote_asset": meta["quoteAsset"],
        "exchange": "BINANCE",
    }
    records = [{**trade, **constants} for trade in api.historical_trades("ETHBTC", 28457)]
    assert set(records[0]) == set(TradesStream.schema["properties"])
    for record in records:
        jsonschema.Draft7Validator(TradesStream.schema).validate(record)
    # The documented answer is in milliseconds (no X-MBX-TIME-UNIT): the tap makes it µs.
    assert records[0]["time"] == 1499865549590000

    row = load_mappings()["binance_trades"].apply(pa.Table.from_pylist(records)).to_pylist()[0]
    assert row["trade_id"] == "28457"
    assert row["side"] == "SELL"  # the buyer was the maker: the taker sold
    assert (row["price"], row["quantity"]) == (4.000001, 12.0)
    assert row["trade_ts"] == datetime(2017, 7, 12, 13, 19, 9, 590000, tzinfo=UTC)
    assert (row["base_asset"], row["quote_asset"]) == ("ETH", "BTC")


def test_documented_symbol_carries_every_field_the_symbols_stream_reads(api):
    (symbol,) = api.exchange_info()
    own = {"exchange"}  # added by the tap, not sent by Binance
    assert set(SymbolsStream.schema["properties"]) - own <= set(symbol)


@pytest.mark.parametrize(
    ("path", "recording"),
    [
        ("/api/v3/historicalTrades?symbol=BTCUSDT&limit=5", "historical_trades"),
        ("/api/v3/aggTrades?symbol=BTCUSDT&limit=5", "agg_trades"),
    ],
)
def test_simulated_trades_have_the_documented_shape(simulator, path, recording):
    answer = requests.get(simulator.url + path, timeout=10).json()
    assert json_shape(answer) == json_shape(json.loads(recorded(recording)))


def test_simulated_exchange_info_has_the_documented_shape_where_the_tap_reads_it(simulator):
    answer = requests.get(f"{simulator.url}/api/v3/exchangeInfo", timeout=10).json()
    documented = json.loads(recorded("exchange_info"))
    assert set(answer) == set(documented)
    simulated = next(s for s in answer["symbols"] if s["symbol"] == "BTCUSDT")
    (symbol,) = documented["symbols"]
    read = set(SymbolsStream.schema["properties"]) - {"exchange"}
    # The documentation leaves `filters` and `permissions` empty: only their kind compares.
    shown = {k for k in read if symbol[k] != []}
    assert {k: json_shape(simulated[k]) for k in shown} == {k: json_shape(symbol[k]) for k in shown}
    assert all(isinstance(simulated[k], list) for k in read - shown)
