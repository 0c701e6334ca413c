"""Kraken's own example answers: the tap parses them, and the simulator answers alike.

The simulator and its oracle share one formatter, so a simulator whose wire format drifted
from the real API would pass every other test. These payloads come from Kraken's
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
from tap_kraken.client import KrakenAPI
from tap_kraken.feed import FreshPage
from tap_kraken.pairs import resolve_pairs
from tap_kraken.streams import PairsStream, TradesStream, _records

LOGGER = logging.getLogger("tap-kraken-recorded")


# The recorded body of one answer, byte for byte; the simulator answering alike.
recorded = functools.partial(recorded_answer, __file__)
simulator = simulator_fixture("kraken", seed=11, clock="frozen")


@pytest.fixture
def api():
    """The tap's own API client, pointed at a server that answers with the recorded bodies."""
    bodies = {
        "/0/public/AssetPairs": recorded("asset_pairs"),
        "/0/public/Trades": recorded("trades"),
    }
    with serve_bodies(bodies) as url:
        client = KrakenAPI(url, max_requests_per_second=100, user_agent="test", logger=LOGGER)
        yield client
        client.close()


def test_documented_trades_become_records_of_the_stream_schema_and_unified_rows(api):
    (pair,) = resolve_pairs(["ETHXBT"], api.asset_pairs())
    assert (pair.canonical, pair.base_asset, pair.quote_asset) == ("XETHXXBT", "ETH", "BTC")
    page = api.trades("XBTUSD", None)
    assert page.last == 1688671969993150842
    extra = {"pair": "XBTUSD", "base_asset": "BTC", "quote_asset": "USD", "exchange": "KRAKEN"}
    records = list(_records(FreshPage(0, page.rows), extra))
    assert list(records[0]) == list(TradesStream.schema["properties"])
    for record in records:
        jsonschema.Draft7Validator(TradesStream.schema).validate(record)
    # The time keeps the published digits (a float would round the 7th decimal).
    assert records[0]["time"] == "1688669597.8277369"
    assert [r["trade_id"] for r in records] == [61044952, 61044953, 61044956]

    rows = load_mappings()["kraken_trades"].apply(pa.Table.from_pylist(records)).to_pylist()
    assert [r["side"] for r in rows] == ["BUY", "SELL", "SELL"]  # Kraken's side is the taker's
    assert (rows[0]["price"], rows[0]["quantity"]) == (30243.4, 0.34507674)
    assert rows[0]["trade_ts"] == datetime(2023, 7, 6, 18, 53, 17, 827736, tzinfo=UTC)


def test_documented_pair_carries_every_field_of_the_pairs_stream(api):
    (entry,) = api.asset_pairs().values()
    own = {"pair", "pair_name", "base_asset", "quote_asset"}  # added by the tap
    assert set(PairsStream.schema["properties"]) - own <= set(entry)


def test_simulated_trades_have_the_documented_shape(simulator):
    answer = requests.get(f"{simulator.url}/0/public/Trades?pair=XBTUSD&count=5", timeout=10)
    assert json_shape(answer.json()) == json_shape(json.loads(recorded("trades")))
    # Compact JSON with the time as a bare number, as Kraken writes it.
    assert answer.content.startswith(b'{"error":[],"result":{"XXBTZUSD":[["')


def test_simulated_asset_pairs_have_the_documented_shape_where_the_tap_reads_it(simulator):
    answer = requests.get(f"{simulator.url}/0/public/AssetPairs?pair=XBTUSD", timeout=10).json()
    documented = json.loads(recorded("asset_pairs"))
    assert set(answer) == set(documented)
    simulated = next(iter(answer["result"].values()))
    (entry,) = documented["result"].values()
    read = set(PairsStream.schema["properties"]) - {
        "pair",
        "pair_name",
        "base_asset",
        "quote_asset",
    }
    assert {k: json_shape(simulated[k]) for k in read} == {k: json_shape(entry[k]) for k in read}
