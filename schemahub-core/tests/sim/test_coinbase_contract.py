"""Contract of the Coinbase simulator against exchange-apis.md, over real HTTP."""

from __future__ import annotations

import itertools
import re
import time

import requests

DECIMAL_8 = re.compile(r"^[0-9]+\.[0-9]{8}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,5}[1-9])?Z$")
TRADE_KEYS = {"trade_id", "side", "size", "price", "time"}


def get(sim, path, **params):
    return requests.get(f"{sim.url}{path}", params=params, timeout=10)


def test_products_list_online_and_one_delisted_product(coinbase_sim):
    response = get(coinbase_sim, "/products")
    assert response.status_code == 200
    products = {p["id"]: p for p in response.json()}
    assert {"BTC-USD", "ETH-USD", "SOL-USD", "NU-USD"} <= set(products)
    btc = products["BTC-USD"]
    assert btc["status"] == "online"
    assert btc["trading_disabled"] is False
    assert btc["base_currency"] == "BTC"
    assert btc["quote_currency"] == "USD"
    assert btc["quote_increment"] == "0.01"
    assert btc["base_increment"] == "0.00000001"
    assert products["NU-USD"]["status"] == "delisted"
    assert products["NU-USD"]["trading_disabled"] is True
    assert get(coinbase_sim, "/products/ETH-USD").json()["id"] == "ETH-USD"


def test_trades_default_page_is_newest_1000_descending_with_exact_formats(coinbase_sim):
    response = get(coinbase_sim, "/products/BTC-USD/trades")
    assert response.status_code == 200
    trades = response.json()
    assert len(trades) == 1000
    ids = [t["trade_id"] for t in trades]
    assert ids == list(range(ids[0], ids[0] - 1000, -1)), "dense and newest first"
    assert ids[0] == coinbase_sim.oracle.newest_id("BTC-USD")
    for trade in trades:
        assert set(trade) == TRADE_KEYS
        assert isinstance(trade["trade_id"], int)
        assert trade["side"] in ("buy", "sell")
        assert DECIMAL_8.match(trade["price"])
        assert DECIMAL_8.match(trade["size"])
        assert RFC3339.match(trade["time"]), trade["time"]
    times = [t["time"] for t in trades]
    assert any(len(t) < len("2026-01-01T00:00:00.000000Z") for t in times), "zeros trimmed"
    assert response.headers["CB-BEFORE"] == str(ids[0])
    assert response.headers["CB-AFTER"] == str(ids[-1])


def test_maker_side_follows_the_tick(coinbase_sim):
    trades = get(coinbase_sim, "/products/BTC-USD/trades").json()[::-1]
    for prev, cur in itertools.pairwise(trades):
        if float(cur["price"]) < float(prev["price"]):
            assert cur["side"] == "buy", "a down-tick is a seller hitting a resting bid"
        if float(cur["price"]) > float(prev["price"]):
            assert cur["side"] == "sell"


def test_after_returns_strictly_older_trades(coinbase_sim):
    newest = coinbase_sim.oracle.newest_id("BTC-USD")
    cursor = newest - 5000
    response = get(coinbase_sim, "/products/BTC-USD/trades", after=cursor, limit=100)
    ids = [t["trade_id"] for t in response.json()]
    assert ids == list(range(cursor - 1, cursor - 101, -1))
    assert response.headers["CB-BEFORE"] == str(cursor - 1)
    assert response.headers["CB-AFTER"] == str(cursor - 100)


def test_after_inclusive_mode_includes_the_cursor(coinbase_sim):
    coinbase_sim.configure(after_inclusive=True)
    cursor = coinbase_sim.oracle.newest_id("BTC-USD") - 5000
    ids = [
        t["trade_id"] for t in get(coinbase_sim, "/products/BTC-USD/trades", after=cursor).json()
    ]
    assert ids[0] == cursor
    assert len(ids) == 1000


def test_before_returns_the_next_newer_page_newest_first(coinbase_sim):
    cursor = coinbase_sim.oracle.newest_id("ETH-USD") - 2500
    response = get(coinbase_sim, "/products/ETH-USD/trades", before=cursor, limit=10)
    ids = [t["trade_id"] for t in response.json()]
    assert ids == list(range(cursor + 10, cursor, -1))
    assert response.headers["CB-AFTER"] == str(cursor + 1)
    newest = coinbase_sim.oracle.newest_id("ETH-USD")
    assert get(coinbase_sim, "/products/ETH-USD/trades", before=newest).json() == []


def test_walking_after_cursors_reaches_the_first_trade_then_empty(coinbase_sim):
    oracle = coinbase_sim.oracle
    first = oracle.first_id("NU-USD")
    page = get(coinbase_sim, "/products/NU-USD/trades", after=first + 10).json()
    assert [t["trade_id"] for t in page] == list(range(first + 9, first - 1, -1))
    empty = get(coinbase_sim, "/products/NU-USD/trades", after=first)
    assert empty.status_code == 200
    assert empty.json() == []
    assert "CB-AFTER" not in empty.headers


def test_limit_validation(coinbase_sim):
    assert len(get(coinbase_sim, "/products/BTC-USD/trades", limit=1).json()) == 1
    assert len(get(coinbase_sim, "/products/BTC-USD/trades", limit=1000).json()) == 1000
    for bad in (0, 1001, -3, "ten"):
        response = get(coinbase_sim, "/products/BTC-USD/trades", limit=bad)
        assert response.status_code == 400, bad
        assert set(response.json()) == {"message"}


def test_bad_cursor_is_400_with_coinbase_message(coinbase_sim):
    response = get(coinbase_sim, "/products/BTC-USD/trades", after="abc")
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid value for pagination after"}
    response = get(coinbase_sim, "/products/BTC-USD/trades", before="-1")
    assert response.json() == {"message": "Invalid value for pagination before"}


def test_unknown_product_is_404_notfound(coinbase_sim):
    for path in ("/products/FOO-BAR/trades", "/products/FOO-BAR", "/nothing/here"):
        response = get(coinbase_sim, path)
        assert response.status_code == 404
        assert response.json() == {"message": "NotFound"}


def test_delisted_product_still_serves_its_frozen_history(coinbase_sim):
    before = coinbase_sim.oracle.newest_id("NU-USD")
    coinbase_sim.advance(3600)
    assert coinbase_sim.oracle.newest_id("NU-USD") == before
    assert coinbase_sim.oracle.newest_id("BTC-USD") > 0
    assert get(coinbase_sim, "/products/NU-USD/trades").json()[0]["trade_id"] == before


def test_sparse_product_skips_missing_ids_and_oracle_knows_them(coinbase_sim):
    oracle = coinbase_sim.oracle
    hi = oracle.newest_id("SOL-USD") - 100
    page = get(coinbase_sim, "/products/SOL-USD/trades", after=hi + 1).json()
    ids = [t["trade_id"] for t in page]
    assert len(ids) == 1000
    assert ids == sorted(ids, reverse=True)
    missing = oracle.missing_ids("SOL-USD", ids[-1], ids[0])
    assert missing, "SOL-USD has gaps"
    assert sorted(set(range(ids[-1], ids[0] + 1)) - set(ids)) == missing
    btc_newest = oracle.newest_id("BTC-USD")
    assert oracle.missing_ids("BTC-USD", btc_newest - 5000, btc_newest) == []


def test_rate_limit_10_per_second_burst_15_then_429(coinbase_sim):
    session = requests.Session()
    statuses = [session.get(f"{coinbase_sim.url}/products").status_code for _ in range(25)]
    assert statuses[:15] == [200] * 15
    assert 429 in statuses[15:]
    limited = session.get(f"{coinbase_sim.url}/products")
    assert limited.status_code == 429
    assert limited.json() == {"message": "Public rate limit exceeded"}
    assert "Retry-After" not in limited.headers
    time.sleep(0.35)  # 10/s refill: about three tokens
    assert session.get(f"{coinbase_sim.url}/products").status_code == 200
    assert coinbase_sim.stats.responses_429 >= 2


def test_retry_after_mode_adds_the_header_on_429(coinbase_sim):
    coinbase_sim.configure(retry_after=True, burst=1, rate_per_second=0.5)
    assert get(coinbase_sim, "/products").status_code == 200
    limited = get(coinbase_sim, "/products")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
