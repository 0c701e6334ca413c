"""ExchangeClient against a real scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import random
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from schemahub_core import metrics
from schemahub_core.breaker import BreakerState, CircuitBreaker
from schemahub_core.errors import (
    ExchangeUnreachableError,
    FatalAPIError,
    IPBannedError,
    RetriesExhaustedError,
)
from schemahub_core.http import ExchangeClient, backoff_delays
from schemahub_core.testing import free_port
from schemahub_core_testkit import Recorder, cut, html, reply, reset, slow

API_KEY = "k3y-VALUE-never-log-me-9f8e7d"


@pytest.fixture
def make_client(server):
    clients: list[ExchangeClient] = []

    def make(**kwargs) -> tuple[ExchangeClient, list[float]]:
        waits: list[float] = []
        settings = {"max_retries": 8, "backoff_base": 0.5, "backoff_max": 60.0}
        settings.update(kwargs)
        client = ExchangeClient(server.url, sleep=waits.append, rng=random.Random(7), **settings)
        clients.append(client)
        return client, waits

    yield make
    for client in clients:
        client.close()


TRADES = [{"id": 28457, "price": "4.00000100", "qty": "12.00000000"}]


def test_5xx_burst_is_retried_until_the_good_body_arrives(server, make_client):
    server.script(
        "/api/v3/trades", reply(500, {}), reply(502, {}), reply(503, {}), reply(200, TRADES)
    )
    client, waits = make_client()
    assert client.get_json("/api/v3/trades", {"symbol": "BTCUSDT"}) == TRADES
    assert server.hits("/api/v3/trades") == 4
    assert len(waits) == 3


def test_jitter_is_full_and_bounded_by_the_exponential_cap(server, make_client):
    server.script("/t", *[reply(503, {})] * 7, reply(200, TRADES))
    client, waits = make_client(backoff_base=0.5, backoff_max=4.0)
    client.get_json("/t")
    assert len(waits) == 7
    for n, wait in enumerate(waits):
        assert 0.0 <= wait <= min(4.0, 0.5 * 2**n)
    draws = backoff_delays(0.5, 4.0, rng=random.Random(1))
    next(draws)
    for _ in range(3):
        draws.send(None)
    fourth = [draws.send(None) for _ in range(2000)]  # all capped at 4.0 from here on
    assert min(fourth) < 0.1
    assert max(fourth) > 3.9  # spread over the whole [0, cap]
    assert 1.8 < sum(fourth) / len(fourth) < 2.2


def test_429_retry_after_in_seconds_is_waited(server, make_client):
    body = {"code": -1003, "msg": "Too much request weight used"}
    server.script("/t", reply(429, body, {"Retry-After": "7"}), reply(200, TRADES))
    client, waits = make_client()
    assert client.get_json("/t") == TRADES
    assert waits == [7.0]


def test_429_retry_after_as_http_date_is_waited(server, make_client):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    server.script("/t", reply(429, {}, {"Retry-After": when}), reply(200, TRADES))
    client, waits = make_client()
    client.get_json("/t")
    assert len(waits) == 1
    assert 117.0 <= waits[0] <= 120.5


def test_429_without_retry_after_backs_off_exponentially(server, make_client):
    msg = {"message": "Public rate limit exceeded"}
    server.script("/t", reply(429, msg), reply(429, msg), reply(200, TRADES))
    client, waits = make_client(backoff_base=0.5)
    client.get_json("/t")
    assert len(waits) == 2
    assert waits[0] <= 0.5
    assert waits[1] <= 1.0


def test_html_error_pages_are_retried_even_with_status_200(server, make_client):
    server.script("/t", html(200, "<html>maintenance</html>"), html(502), reply(200, TRADES))
    client, _ = make_client()
    assert client.get_json("/t") == TRADES
    assert server.hits("/t") == 3


def test_connection_reset_is_retried(server, make_client):
    server.script("/t", reset, reply(200, TRADES))
    client, waits = make_client()
    assert client.get_json("/t") == TRADES
    assert server.hits("/t") == 2
    assert len(waits) == 1


def test_refused_first_connection_fails_at_once_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    waits: list[float] = []
    client = ExchangeClient(url, max_retries=8, sleep=waits.append)
    with client, pytest.raises(ExchangeUnreachableError) as error:
        client.get_json("/api/v3/exchangeInfo")
    assert waits == []
    message = str(error.value)
    assert f"{url}/api/v3/exchangeInfo" in message
    assert "refused" in message
    assert "api_url" in message


def test_refused_connection_after_the_exchange_answered_is_retried(server, make_client):
    server.script("/t", reply(200, TRADES, {"Connection": "close"}))  # no connection kept
    client, waits = make_client(max_retries=2)
    assert client.get_json("/t") == TRADES
    server.httpd.shutdown()
    server.httpd.server_close()  # the exchange goes away mid-run: nothing listens any more
    with pytest.raises(RetriesExhaustedError, match="failed 3 times"):
        client.get_json("/t")
    assert len(waits) == 2


def test_body_cut_mid_way_is_retried(server, make_client):
    full = json.dumps(TRADES)
    server.script("/t", cut(full[:20], declared=len(full)), reply(200, TRADES))
    client, _ = make_client()
    assert client.get("/t").json() == TRADES  # plain get() checks the length too
    assert server.hits("/t") == 2


def test_response_slower_than_the_read_timeout_is_retried(server, make_client):
    server.script("/t", slow(0.6, reply(200, [])), reply(200, TRADES))
    client, _ = make_client(timeout=(2.0, 0.2))
    assert client.get_json("/t") == TRADES
    assert server.hits("/t") == 2


def test_coinbase_400_is_fatal_with_the_exchange_message(server, make_client):
    msg = {"message": "Invalid value for pagination after"}
    server.script("/products/BTC-USD/trades", reply(400, msg))
    client, waits = make_client()
    with pytest.raises(FatalAPIError) as info:
        client.get("/products/BTC-USD/trades", {"after": "abc"})
    assert info.value.status == 400
    assert "Invalid value for pagination after" in str(info.value)
    assert "/products/BTC-USD/trades?after=abc" in str(info.value)
    assert server.hits("/products/BTC-USD/trades") == 1
    assert waits == []


def test_binance_400_is_fatal_with_code_and_message_and_no_secret(server, make_client):
    server.script("/api/v3/trades", reply(400, {"code": -1121, "msg": "Invalid symbol."}))
    client, _ = make_client()
    with pytest.raises(FatalAPIError) as info:
        client.get("/api/v3/trades", {"symbol": "NOPE", "signature": "deadbeefcafe"})
    text = str(info.value)
    assert "Invalid symbol. (code -1121)" in text
    assert info.value.code == -1121
    assert "symbol=NOPE" in text
    assert "deadbeefcafe" not in text
    assert "signature=REDACTED" in info.value.url


def test_418_raises_ip_banned_with_the_ban_end(server, make_client):
    body = {
        "code": -1003,
        "msg": "Way too much request weight used; IP banned until 1700000000000.",
    }
    server.script("/api/v3/trades", reply(418, body, {"Retry-After": "120"}))
    client, waits = make_client()
    before = datetime.now(UTC)
    with pytest.raises(IPBannedError) as info:
        client.get("/api/v3/trades")
    assert info.value.banned_until is not None
    assert timedelta(seconds=119) <= info.value.banned_until - before <= timedelta(seconds=125)
    assert "BANNED" in str(info.value)
    assert "Retry-After: 120 s" in str(info.value)
    assert server.hits("/api/v3/trades") == 1
    assert waits == []


def test_404_is_fatal_and_points_at_the_base_url(server, make_client):
    client, _ = make_client()
    with pytest.raises(FatalAPIError, match="Check the base URL") as info:
        client.get("/no/such/endpoint")
    assert info.value.status == 404
    assert "NotFound" in str(info.value)


def test_api_key_is_sent_but_never_logged_nor_raised(server, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    echo = {"code": -2015, "msg": f"Invalid API-key {API_KEY}, IP, or permissions."}
    server.script("/api/v3/historicalTrades", reply(503, {"msg": API_KEY}), reset, reply(401, echo))
    client, _ = make_client(headers={"X-MBX-APIKEY": API_KEY}, sensitive_headers=["X-MBX-APIKEY"])
    with pytest.raises(FatalAPIError) as info:
        client.get("/api/v3/historicalTrades", {"symbol": "BTCUSD"})
    assert all(r["headers"].get("X-MBX-APIKEY") == API_KEY for r in server.requests)
    assert not any(
        k.lower().startswith("x-schemahub") for r in server.requests for k in r["headers"]
    )
    assert "Invalid API-key REDACTED" in str(info.value)
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value.args)
    assert "retrying" in caplog.text
    assert API_KEY not in caplog.text


def test_retries_exhausted_after_max_retries(server, make_client):
    server.script("/t", reply(503, {"message": "Service Unavailable"}))
    client, waits = make_client(max_retries=3)
    with pytest.raises(RetriesExhaustedError) as info:
        client.get("/t", {"after": 5})
    assert server.hits("/t") == 4
    assert len(waits) == 3
    assert info.value.attempts == 4
    assert info.value.last_status == 503
    assert "failed 4 times" in str(info.value)
    assert "Service Unavailable" in str(info.value)


def test_streak_of_5xx_opens_the_breaker_but_429s_do_not(server, make_client):
    server.script("/down", reply(503, {}))
    server.script("/busy", reply(429, {}))
    breaker = CircuitBreaker("binance", failure_threshold=3, cooldown_seconds=60)
    client, _ = make_client(breaker=breaker, max_retries=4)
    with pytest.raises(RetriesExhaustedError) as info:
        client.get("/busy")
    assert info.value.last_status == 429
    assert breaker.state is BreakerState.CLOSED
    client.max_retries = 2
    with pytest.raises(RetriesExhaustedError):
        client.get("/down")
    assert breaker.state is BreakerState.OPEN
    assert breaker.counters["failures"] == 3
    assert breaker.counters["neutral"] == 5


def test_limiter_is_charged_the_weight_of_every_attempt(server, make_client):
    server.script(
        "/api/v3/historicalTrades",
        reply(503, {}, {"X-MBX-USED-WEIGHT-1M": "25"}),
        reply(503, {}, {"X-MBX-USED-WEIGHT-1M": "50"}),
        reply(200, TRADES, {"X-MBX-USED-WEIGHT-1M": "75"}),
    )
    limiter = Recorder()
    client, _ = make_client(limiter=limiter)
    client.get_json("/api/v3/historicalTrades", {"symbol": "BTCUSDT"}, weight=25)
    assert limiter.acquired == [25, 25, 25]
    assert limiter.observed == ["25", "50", "75"]


def test_pool_holds_as_many_connections_as_the_concurrency(server, make_client):
    server.script("/t", slow(0.05, reply(200, TRADES)))
    client, _ = make_client(concurrency=3)
    assert client.adapter.poolmanager.connection_pool_kw["maxsize"] == 3
    results: list = []

    def worker() -> None:
        for _ in range(4):
            results.append(client.get_json("/t"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results == [TRADES] * 32
    assert len({r["port"] for r in server.requests}) == 3  # 8 threads shared 3 connections


def test_metrics_are_logged_in_singer_sdk_format(server, make_client, caplog):
    caplog.set_level(logging.INFO)
    server.script("/api/v3/trades", reply(429, {}), reply(503, {}), reply(200, TRADES))
    client, _ = make_client()
    client.get("/api/v3/trades", {"symbol": "BTCUSDT", "signature": "s3cr3t"})
    points = [
        json.loads(r.getMessage().removeprefix("METRIC: "))
        for r in caplog.records
        if r.getMessage().startswith("METRIC: ")
    ]
    timers = [p for p in points if p["type"] == "timer"]
    assert [p["metric"] for p in timers] == ["http_request_duration"] * 3
    assert [t["tags"]["http_status_code"] for t in timers] == [429, 503, 200]
    assert [t["tags"]["attempt"] for t in timers] == [1, 2, 3]
    assert [t["tags"]["status"] for t in timers] == ["failed", "failed", "succeeded"]
    assert all(t["tags"]["endpoint"] == "/api/v3/trades" for t in timers)
    counters = defaultdict(int)
    for p in points:
        if p["type"] == "counter":
            counters[p["metric"]] += p["value"]
    assert counters == {"http_throttled_count": 1, "http_server_error_count": 1}
    assert "s3cr3t" not in caplog.text


def test_metric_line_matches_singer_sdk_serialisation():
    sdk_metrics = pytest.importorskip("singer_sdk.metrics")
    tags = {"endpoint": "/x", "http_status_code": 200}
    point = sdk_metrics.Point("timer", sdk_metrics.Metric.HTTP_REQUEST_DURATION, 0.25, tags)
    assert metrics.format_metric("timer", "http_request_duration", 0.25, tags) == str(point)


def test_backoff_delays_honour_retry_after_of_the_exception_sent_in():
    response = requests.Response()
    response.headers["Retry-After"] = "9"
    delays = backoff_delays(0.5, 60.0, rng=random.Random(3))
    next(delays)  # backoff primes the generator with send(None)
    assert delays.send(requests.HTTPError(response=response)) == 9.0
    assert delays.send(requests.ConnectionError()) <= 1.0  # second attempt: cap 0.5 * 2
