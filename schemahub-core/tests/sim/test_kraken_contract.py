"""Contract of the Kraken simulator against exchange-apis.md, over real HTTP."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal

import pytest
import requests

PRICE = re.compile(r"^[0-9]+\.[0-9]{5,8}$")
VOLUME = re.compile(r"^[0-9]+\.[0-9]{8}$")
TIME_TEXT = re.compile(r"^[0-9]{10}\.[0-9]{1,7}$")


@pytest.fixture
def kraken(sim_factory):
    """A Kraken simulator without the rate limit (tests of paging and bodies)."""
    return sim_factory("kraken", seed=7, rate_limit=False)


def call(sim, path, **params):
    response = requests.get(f"{sim.url}/0/public/{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=str)


def trades(sim, pair="XBTUSD", **params):
    body = call(sim, "Trades", pair=pair, **params)
    assert body["error"] == [], body
    result = body["result"]
    (key,) = set(result) - {"last"}
    return key, result[key], result["last"]


def ns(time_text: str) -> int:
    return int(Decimal(time_text) * 10**9)


def test_asset_pairs_keyed_by_canonical_name_with_altname_and_prefixed_assets(kraken):
    pairs = call(kraken, "AssetPairs")["result"]
    assert {"XXBTZUSD", "XETHZUSD", "SOLUSD", "XDGUSD", "LUNAUSD"} <= set(pairs)
    xbt = pairs["XXBTZUSD"]
    assert (xbt["altname"], xbt["wsname"], xbt["base"], xbt["quote"], xbt["status"]) == (
        "XBTUSD", "XBT/USD", "XXBT", "ZUSD", "online",
    )  # fmt: skip
    assert (pairs["SOLUSD"]["base"], pairs["SOLUSD"]["quote"]) == ("SOL", "USD")
    assert pairs["LUNAUSD"]["status"] == "delisted"
    chosen = call(kraken, "AssetPairs", pair="XBTUSD,SOLUSD")["result"]
    assert set(chosen) == {"XXBTZUSD", "SOLUSD"}
    assert call(kraken, "AssetPairs", pair="XBTUSDX") == {"error": ["EQuery:Unknown asset pair"]}


def test_time_and_system_status(kraken):
    now = call(kraken, "Time")["result"]
    assert now["unixtime"] == int(kraken.clock.now_us() // 1_000_000)
    assert now["rfc1123"].endswith("+0000")
    assert call(kraken, "SystemStatus")["result"]["status"] == "online"
    kraken.configure(system_status="maintenance")
    assert call(kraken, "SystemStatus")["result"]["status"] == "maintenance"


def test_trades_without_since_are_the_newest_ascending_with_exact_formats(kraken):
    key, rows, last = trades(kraken, count=1000)
    assert key == "XXBTZUSD"
    assert len(rows) == 1000
    ids = [row[6] for row in rows]
    assert ids == sorted(ids)
    assert ids[-1] == kraken.oracle.newest_id("XBTUSD")
    assert ids[-1] - ids[0] + 1 > 1000, "ids are sparse: a page spans more ids than trades"
    assert last == str(ns(rows[-1][2]))
    for price, volume, when, side, kind, misc, trade_id in rows:
        assert PRICE.match(price), price
        assert VOLUME.match(volume), volume
        assert TIME_TEXT.match(when), when
        assert side in ("b", "s")
        assert kind in ("m", "l")
        assert misc == ""
        assert isinstance(trade_id, int)
    assert any(len(row[2].split(".")[1]) == 7 for row in rows), "7 decimals of a second"
    assert rows == kraken.oracle.trades("XBTUSD", ids[0])


def test_pair_by_altname_or_canonical_name_and_result_keyed_canonical(kraken):
    assert trades(kraken, "XBTUSD", count=3) == trades(kraken, "XXBTZUSD", count=3)
    key, rows, _ = trades(kraken, "SOLUSD", count=3)
    assert key == "SOLUSD"
    assert len(rows) == 3


def test_several_trades_share_one_timestamp(kraken):
    _, rows, _ = trades(kraken, count=1000)
    times = [row[2] for row in rows]
    assert len(set(times)) < len(times)


def paged(sim, pair, since, pages):
    """Follow `last` for a number of pages; return every row served, repeats included."""
    served = []
    for _ in range(pages):
        _, rows, last = trades(sim, pair, since=since, count=1000)
        served += rows
        since = last
    return served


def test_inclusive_since_repeats_the_boundary_timestamp_and_misses_nothing(kraken):
    first = kraken.oracle.first_id("XBTUSD")
    start = kraken.oracle.trades("XBTUSD", first, first)[0]
    served = paged(kraken, "XBTUSD", ns(start[2]), pages=6)
    ids = [row[6] for row in served]
    assert len(ids) > len(set(ids)), "boundary trades repeated on the next page"
    assert ids[0] == first
    expected = kraken.oracle.trades("XBTUSD", first, max(ids))
    assert {row[6]: row for row in served} == {row[6]: row for row in expected}


def test_exclusive_since_never_repeats_nor_splits_a_timestamp(sim_factory):
    sim = sim_factory("kraken", seed=7, rate_limit=False, since_exclusive=True)
    first = sim.oracle.first_id("XBTUSD")
    start = sim.oracle.trades("XBTUSD", first, first)[0]
    served = paged(sim, "XBTUSD", ns(start[2]) - 1, pages=6)
    ids = [row[6] for row in served]
    assert len(ids) == len(set(ids))
    assert served == sim.oracle.trades("XBTUSD", first, ids[-1])


def test_since_in_seconds_equals_since_in_nanoseconds(kraken):
    seconds = kraken.clock.now_us() // 1_000_000 - 120
    assert trades(kraken, since=seconds, count=50) == trades(
        kraken, since=seconds * 10**9, count=50
    )
    _, rows, _ = trades(kraken, since=seconds, count=50)
    assert all(ns(row[2]) >= seconds * 10**9 for row in rows)


def test_since_past_the_newest_trade_is_an_empty_page_echoing_since(kraken):
    future = (kraken.clock.now_us() + 10_000_000) * 1000
    assert trades(kraken, since=future) == ("XXBTZUSD", [], str(future))


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"pair": "XBTUSDT"}, "EQuery:Unknown asset pair"),
        ({}, "EGeneral:Invalid arguments"),
        ({"pair": "XBTUSD", "count": "0"}, "EGeneral:Invalid arguments"),
        ({"pair": "XBTUSD", "count": "1001"}, "EGeneral:Invalid arguments"),
        ({"pair": "XBTUSD", "since": "yesterday"}, "EGeneral:Invalid arguments"),
    ],
)
def test_errors_are_http_200_with_an_error_array(kraken, params, error):
    assert call(kraken, "Trades", **params) == {"error": [error]}


def test_per_pair_call_counter_refuses_with_too_many_requests(sim_factory):
    sim = sim_factory("kraken", seed=7, pair_rate_per_second=1.0, pair_burst=3)
    bodies = [call(sim, "Trades", pair="XBTUSD", count=1) for _ in range(5)]
    errors = [b["error"] for b in bodies]
    assert errors[:3] == [[], [], []]
    assert errors[3:] == [["EGeneral:Too many requests"]] * 2
    assert sim.app.throttled == 2
    # The counter is per pair: another pair is not throttled by XBTUSD's calls.
    assert call(sim, "Trades", pair="ETHUSD", count=1)["error"] == []
    time.sleep(1.1)
    assert call(sim, "Trades", pair="XBTUSD", count=1)["error"] == []


def test_service_faults_are_http_200_errors_and_cdn_faults_are_html_5xx(kraken):
    kraken.configure(fault_unavailable_next=1, fault_busy_next=1, fault_5xx_next=1)
    url = f"{kraken.url}/0/public/Trades?pair=XBTUSD"
    cdn = requests.get(url, timeout=10)
    assert cdn.status_code == 503
    assert cdn.headers["Content-Type"] == "text/html"
    assert "cloudflare" in cdn.text
    unavailable = requests.get(url, timeout=10)
    assert unavailable.status_code == 200
    assert unavailable.json() == {"error": ["EService:Unavailable"]}
    assert requests.get(url, timeout=10).json() == {"error": ["EService:Busy"]}
    assert requests.get(url, timeout=10).json()["error"] == []


def test_kraken_settings_are_refused_by_other_simulators(sim_factory):
    with pytest.raises(ValueError, match="since_exclusive"):
        sim_factory("coinbase", since_exclusive=True)
    with pytest.raises(ValueError, match="after_inclusive"):
        sim_factory("kraken", after_inclusive=True)


def test_oracle_keeps_time_text_and_finds_missing_ids(kraken):
    newest = kraken.oracle.newest_id("ETHUSD")
    rows = kraken.oracle.trades("ETHUSD", newest - 2000)
    assert all(isinstance(row[2], str) for row in rows)
    missing = kraken.oracle.missing_ids("ETHUSD", newest - 2000, newest)
    assert 300 < len(missing) < 700, "about a quarter of the ids never exist"
    assert not {row[6] for row in rows} & set(missing)
