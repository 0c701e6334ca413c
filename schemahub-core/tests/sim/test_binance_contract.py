"""Contract of the Binance simulator against exchange-apis.md, over real HTTP."""

from __future__ import annotations

import itertools
import json
import re
import time
from decimal import Decimal

import pytest
import requests

DECIMAL_8 = re.compile(r"^[0-9]+\.[0-9]{8}$")
TRADE_KEYS = {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}
MICRO = {"X-MBX-TIME-UNIT": "MICROSECOND"}


def get(sim, path, headers=None, **params):
    return requests.get(f"{sim.url}{path}", params=params, headers=headers, timeout=10)


def wait_for_fresh_minute(margin: float = 6.0) -> None:
    """Weight resets each wall-clock minute: start weight-sensitive checks well inside one."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def test_exchange_info_lists_symbols_with_a_break_symbol(binance_sim):
    response = get(binance_sim, "/api/v3/exchangeInfo")
    assert response.status_code == 200
    info = response.json()
    assert info["timezone"] == "UTC"
    assert isinstance(info["serverTime"], int)
    weight = next(r for r in info["rateLimits"] if r["rateLimitType"] == "REQUEST_WEIGHT")
    assert weight["limit"] == 6000
    assert weight["interval"] == "MINUTE"
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert symbols["BTCUSDT"]["status"] == "TRADING"
    assert symbols["BTCUSDT"]["baseAsset"] == "BTC"
    assert symbols["BTCUSDT"]["quoteAsset"] == "USDT"
    assert symbols["LUNAUSDT"]["status"] == "BREAK"


def test_exchange_info_symbol_and_symbols_filters(binance_sim):
    one = get(binance_sim, "/api/v3/exchangeInfo", symbol="LTCBTC").json()["symbols"]
    assert [s["symbol"] for s in one] == ["LTCBTC"]
    wanted = json.dumps(["ETHUSDT", "BTCUSDT"], separators=(",", ":"))
    two = get(binance_sim, "/api/v3/exchangeInfo", symbols=wanted).json()["symbols"]
    assert [s["symbol"] for s in two] == ["ETHUSDT", "BTCUSDT"]
    bad = get(binance_sim, "/api/v3/exchangeInfo", symbol="NOPEUSDT")
    assert bad.status_code == 400
    assert bad.json() == {"code": -1121, "msg": "Invalid symbol."}
    both = get(binance_sim, "/api/v3/exchangeInfo", symbol="LTCBTC", symbols=wanted)
    assert both.status_code == 400
    assert both.json()["code"] == -1128


def test_historical_trades_from_id_is_inclusive_ascending_with_exact_types(binance_sim):
    newest = binance_sim.oracle.newest_id("BTCUSDT")
    from_id = newest - 3000
    response = get(binance_sim, "/api/v3/historicalTrades", symbol="BTCUSDT", fromId=from_id)
    trades = response.json()
    assert len(trades) == 500, "default limit"
    assert [t["id"] for t in trades] == list(range(from_id, from_id + 500))
    for trade in trades:
        assert set(trade) == TRADE_KEYS
        assert isinstance(trade["id"], int)
        assert isinstance(trade["time"], int)
        assert isinstance(trade["isBuyerMaker"], bool)
        assert trade["isBestMatch"] is True
        for name in ("price", "qty", "quoteQty"):
            assert DECIMAL_8.match(trade[name]), trade
        exact = Decimal(trade["price"]) * Decimal(trade["qty"])
        assert abs(Decimal(trade["quoteQty"]) - exact) <= Decimal("0.000000005")
        assert 1_600_000_000_000 < trade["time"] < 2_000_000_000_000, "milliseconds"
    assert trades == binance_sim.oracle.trades("BTCUSDT", from_id, from_id + 499, time_unit="ms")


def test_microsecond_header_switches_every_timestamp_to_microseconds(binance_sim):
    from_id = binance_sim.oracle.newest_id("ETHUSDT") - 1000
    ms = get(binance_sim, "/api/v3/historicalTrades", symbol="ETHUSDT", fromId=from_id).json()
    us = get(
        binance_sim, "/api/v3/historicalTrades", MICRO, symbol="ETHUSDT", fromId=from_id
    ).json()
    assert [t["time"] // 1000 for t in us] == [t["time"] for t in ms]
    assert any(t["time"] % 1000 for t in us), "real microsecond precision"
    assert us == binance_sim.oracle.trades("ETHUSDT", from_id, from_id + 499)
    agg = get(binance_sim, "/api/v3/aggTrades", MICRO, symbol="ETHUSDT", limit=5).json()
    assert all(a["T"] > 10**15 for a in agg)


def test_recent_trades_and_historical_without_from_id_return_the_newest(binance_sim):
    newest = binance_sim.oracle.newest_id("BTCUSDT")
    for path in ("/api/v3/trades", "/api/v3/historicalTrades"):
        trades = get(binance_sim, path, symbol="BTCUSDT", limit=1000).json()
        assert [t["id"] for t in trades] == list(range(newest - 999, newest + 1))


def test_limit_and_parameter_validation_errors(binance_sim):
    path = "/api/v3/historicalTrades"
    for bad in (0, 1001):
        response = get(binance_sim, path, symbol="BTCUSDT", limit=bad)
        assert response.status_code == 400
        assert response.json() == {
            "code": -1130,
            "msg": "Data sent for parameter 'limit' is not valid.",
        }
    assert get(binance_sim, path, symbol="BTCUSDT", fromId="x1").json()["code"] == -1100
    missing = get(binance_sim, path).json()
    assert missing["code"] == -1102
    assert "'symbol'" in missing["msg"]
    assert get(binance_sim, path, symbol="BTCUSDT", since=5).json()["code"] == -1104
    unknown = get(binance_sim, "/api/v3/aggTrades", symbol="BTCUSD")
    assert unknown.status_code == 400
    assert unknown.json() == {
        "code": -1121,
        "msg": "Invalid symbol.",
    }


def test_agg_trades_ranges_match_the_individual_trades(binance_sim):
    oracle = binance_sim.oracle
    start = oracle.newest_id("BTCUSDT") - 1500
    first = get(binance_sim, "/api/v3/aggTrades", MICRO, symbol="BTCUSDT", limit=1).json()[0]
    aggs = get(
        binance_sim, "/api/v3/aggTrades", MICRO, symbol="BTCUSDT", fromId=first["a"] - 800
    ).json()
    assert len(aggs) == 500
    assert [a["a"] for a in aggs] == list(range(aggs[0]["a"], aggs[0]["a"] + 500))
    trades = {t["id"]: t for t in oracle.trades("BTCUSDT", start - 2000)}
    for agg, nxt in itertools.pairwise(aggs):
        assert nxt["f"] == agg["l"] + 1, "aggregates tile the dense trade ids"
    for agg in aggs:
        members = [trades[i] for i in range(agg["f"], agg["l"] + 1)]
        assert {t["price"] for t in members} == {agg["p"]}
        assert {t["time"] for t in members} == {agg["T"]}
        assert {t["isBuyerMaker"] for t in members} == {agg["m"]}
        assert sum(Decimal(t["qty"]) for t in members) == Decimal(agg["q"])


def test_agg_trades_start_time_alone_returns_the_oldest_from_that_time(binance_sim):
    oracle = binance_sim.oracle
    target = oracle.trades("BTCUSDT", oracle.newest_id("BTCUSDT") - 20_000)[0]
    start_ms = target["time"] // 1000 + 1
    aggs = get(
        binance_sim, "/api/v3/aggTrades", symbol="BTCUSDT", startTime=start_ms, limit=1000
    ).json()
    assert len(aggs) == 1000
    assert aggs[0]["T"] >= start_ms
    assert aggs == sorted(aggs, key=lambda a: a["a"])
    first_us = oracle.id_at_or_after("BTCUSDT", start_ms * 1000)
    assert aggs[0]["f"] == first_us
    one = get(binance_sim, "/api/v3/aggTrades", symbol="BTCUSDT", startTime=start_ms, limit=1)
    assert one.json()[0]["f"] == first_us
    end_ms = aggs[9]["T"]
    window = get(
        binance_sim, "/api/v3/aggTrades", symbol="BTCUSDT", startTime=start_ms, endTime=end_ms
    )
    assert window.json() == [a for a in aggs if a["T"] <= end_ms]
    mixed = get(binance_sim, "/api/v3/aggTrades", symbol="BTCUSDT", fromId=1, startTime=start_ms)
    assert mixed.json()["code"] == -1128


def test_every_response_reports_used_weight_per_endpoint(binance_sim):
    wait_for_fresh_minute()
    used = [int(get(binance_sim, "/api/v3/ping").headers["X-MBX-USED-WEIGHT-1M"])]
    for path, params in (
        ("/api/v3/exchangeInfo", {}),
        ("/api/v3/historicalTrades", {"symbol": "BTCUSDT", "limit": 1}),
        ("/api/v3/trades", {"symbol": "BTCUSDT", "limit": 1}),
        ("/api/v3/aggTrades", {"symbol": "BTCUSDT", "limit": 1}),
        ("/api/v3/aggTrades", {"symbol": "NOPE"}),
    ):
        used.append(int(get(binance_sim, path, **params).headers["X-MBX-USED-WEIGHT-1M"]))
    assert [b - a for a, b in itertools.pairwise(used)] == [20, 25, 25, 4, 4]
    assert sum(binance_sim.stats.weight_per_minute.values()) == used[-1]


def test_6000_weight_per_minute_then_429_with_retry_after(binance_sim):
    wait_for_fresh_minute(margin=10)
    session = requests.Session()
    url = f"{binance_sim.url}/api/v3/historicalTrades"
    statuses = [
        session.get(url, params={"symbol": "LTCBTC", "limit": 1}).status_code for _ in range(240)
    ]
    assert statuses == [200] * 240, "240 x 25 = 6000 is allowed"
    over = session.get(url, params={"symbol": "LTCBTC", "limit": 1})
    assert over.status_code == 429
    assert over.json()["code"] == -1003
    assert "6000 request weight per 1 MINUTE" in over.json()["msg"]
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert int(over.headers["X-MBX-USED-WEIGHT-1M"]) > 6000


def test_continuing_after_429_gets_the_ip_banned_with_418(binance_sim):
    wait_for_fresh_minute()
    binance_sim.configure(weight_limit=50, ban_after=2, ban_seconds=1.5)
    statuses = [get(binance_sim, "/api/v3/trades", symbol="BTCUSDT").status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    banned = get(binance_sim, "/api/v3/ping")
    assert banned.status_code == 418
    assert banned.json()["code"] == -1003
    assert "banned until" in banned.json()["msg"]
    assert banned.headers["Retry-After"] in ("1", "2")
    assert get(binance_sim, "/api/v3/exchangeInfo").status_code == 418, "everything is refused"
    assert binance_sim.stats.responses_418 == 2
    time.sleep(1.6)
    binance_sim.configure(weight_limit=100_000)
    assert get(binance_sim, "/api/v3/ping").status_code == 200, "the ban ends"


def test_binance_us_mode_needs_an_api_key_and_allows_1200_weight(binance_sim):
    wait_for_fresh_minute()
    binance_sim.configure(binance_us=True)
    no_key = get(binance_sim, "/api/v3/historicalTrades", symbol="BTCUSDT")
    assert no_key.status_code == 401
    assert no_key.json() == {"code": -2014, "msg": "API-key format invalid."}
    info = get(binance_sim, "/api/v3/exchangeInfo").json()
    assert info["rateLimits"][0]["limit"] == 1200
    key = {"X-MBX-APIKEY": "any-key"}
    statuses = [
        get(binance_sim, "/api/v3/historicalTrades", key, symbol="BTCUSDT", limit=1).status_code
        for _ in range(47)
    ]
    assert statuses[:45] == [200] * 45, "1200 weight, exchangeInfo took 20"
    assert statuses[-1] == 429, "1200 weight, exchangeInfo took 20"


def test_binance_com_ignores_a_missing_api_key(binance_sim):
    assert get(binance_sim, "/api/v3/historicalTrades", symbol="BTCUSDT").status_code == 200


@pytest.mark.parametrize(
    ("mode", "status"), [("restricted", 451), ("waf", 403)], ids=["restricted-451", "waf-403"]
)
def test_blocked_modes_refuse_every_api_request(binance_sim, mode, status):
    binance_sim.configure(**{mode: True})
    for path in ("/api/v3/exchangeInfo", "/api/v3/aggTrades"):
        response = get(binance_sim, path, symbol="BTCUSDT")
        assert response.status_code == status
    if status == 451:
        assert "restricted location" in response.json()["msg"]
    else:
        assert response.headers["Content-Type"].startswith("text/html")
