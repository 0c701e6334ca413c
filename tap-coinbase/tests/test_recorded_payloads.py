"""Coinbase's own example answers: the tap parses them, and the simulator answers alike.

The simulator and its oracle share one formatter, so a simulator whose wire format drifted
from the real API would pass every other test. These payloads come from Coinbase's
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
from tap_coinbase.client import CoinbaseAPI
from tap_coinbase.emit import trade_record
from tap_coinbase.products import ProductCatalog
from tap_coinbase.streams import ProductsStream, TradesStream

LOGGER = logging.getLogger("tap-coinbase-recorded")


# The recorded body of one answer, byte for byte; the simulator answering alike.
recorded = functools.partial(recorded_answer, __file__)
simulator = simulator_fixture("coinbase", seed=11, clock="frozen")


@pytest.fixture
def api():
    """The tap's own API client, pointed at a server that answers with the recorded bodies."""
    bodies = {"/products": recorded("products"), "/products/BTC-USD/trades": recorded("trades")}
    with serve_bodies(bodies) as url:
        client = CoinbaseAPI.from_config({"api_url": url}, LOGGER)
        yield client
        client.client.close()


def test_documented_trade_becomes_a_record_of_the_stream_schema_and_a_unified_row(api):
    catalog = ProductCatalog(api.list_products())
    assert catalog.resolve(["BTC-USD"], LOGGER) == ["BTC-USD"]
    product = catalog.by_id["BTC-USD"]
    extra = {
        "product_id": "BTC-USD",
        "base_asset": product["base_currency"],
        "quote_asset": product["quote_currency"],
    }
    records = [trade_record(trade, extra) for trade in api.trades_before("BTC-USD", None, 1000)]
    assert list(records[0]) == list(TradesStream.schema["properties"])
    for record in records:
        jsonschema.Draft7Validator(TradesStream.schema).validate(record)
    assert records[0]["price"] == "6225.32000000"  # decimal strings kept exactly

    row = load_mappings()["coinbase_trades"].apply(pa.Table.from_pylist(records)).to_pylist()[0]
    assert row["trade_id"] == "86327327"
    assert row["side"] == "BUY"  # maker sold: a buyer lifted the offer
    assert (row["price"], row["quantity"]) == (6225.32, 0.06469797)
    assert row["trade_ts"] == datetime(2020, 3, 20, 0, 36, 59, 860000, tzinfo=UTC)
    assert (row["base_asset"], row["quote_asset"]) == ("BTC", "USD")


def test_documented_product_carries_every_field_of_the_products_stream(api):
    (product,) = api.list_products()
    assert set(ProductsStream.schema["properties"]) <= set(product)


def test_simulated_trades_have_the_documented_shape(simulator):
    answer = requests.get(f"{simulator.url}/products/BTC-USD/trades?limit=5", timeout=10).json()
    assert json_shape(answer) == json_shape(json.loads(recorded("trades")))


def test_simulated_products_have_the_documented_shape(simulator):
    answer = requests.get(f"{simulator.url}/products", timeout=10).json()
    (documented,) = json.loads(recorded("products"))
    simulated = next(p for p in answer if p["id"] == "BTC-USD")
    assert json_shape(simulated) == json_shape(documented)
