"""ExchangeClient used by a real singer-sdk RESTStream through the SDK's documented hooks."""

from __future__ import annotations

import time

import pytest
import requests
from schemahub_core.breaker import CircuitBreaker
from schemahub_core.errors import IPBannedError
from schemahub_core.http import ExchangeClient
from schemahub_core_testkit import Recorder, reply
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.streams import RESTStream

TRADES = [{"id": 1, "price": "1.0"}, {"id": 2, "price": "2.0"}]


def build_stream(client: ExchangeClient, url: str) -> RESTStream:
    """A minimal tap whose stream uses the client exactly as the module docstring says."""

    class TradesStream(RESTStream):
        name = "trades"
        path = "/api/v3/trades"
        url_base = url
        records_jsonpath = "$[*]"
        schema = th.PropertiesList(
            th.Property("id", th.IntegerType), th.Property("price", th.StringType)
        ).to_dict()

        @property
        def requests_session(self) -> requests.Session:
            return client.session

        def backoff_wait_generator(self):
            return client.backoff_delays()

        def backoff_jitter(self, value: float) -> float:
            return value

        def validate_response(self, response: requests.Response) -> None:
            client.raise_for_fatal(response)
            super().validate_response(response)

    class DemoTap(Tap):
        name = "tap-demo"
        config_jsonschema = th.PropertiesList().to_dict()

        def discover_streams(self):
            return [TradesStream(self)]

    return DemoTap(config={}, validate_config=False).streams["trades"]


def test_reststream_gets_limiter_breaker_and_retry_after_through_the_session(server):
    server.script(
        "/api/v3/trades",
        reply(503, {}),
        reply(429, {"code": -1003, "msg": "slow down"}, {"Retry-After": "0.3"}),
        reply(200, TRADES, {"X-MBX-USED-WEIGHT-1M": "75"}),
    )
    limiter = Recorder()
    breaker = CircuitBreaker("binance")
    client = ExchangeClient(
        server.url,
        limiter=limiter,
        breaker=breaker,
        backoff_base=0.01,
        endpoint_weights={"/api/v3/trades": 25},
    )
    stream = build_stream(client, server.url)
    started = time.monotonic()
    assert list(stream.get_records(None)) == TRADES
    assert time.monotonic() - started >= 0.3  # the 429's Retry-After was honoured
    assert server.hits("/api/v3/trades") == 3
    assert limiter.acquired == [25, 25, 25]  # weight from endpoint_weights, every attempt
    assert limiter.observed[-1] == "75"
    counters = breaker.counters
    assert (counters["failures"], counters["neutral"], counters["successes"]) == (1, 1, 1)
    client.close()


def test_reststream_stops_at_once_on_a_ban(server):
    server.script(
        "/api/v3/trades", reply(418, {"code": -1003, "msg": "banned"}, {"Retry-After": "60"})
    )
    client = ExchangeClient(server.url, backoff_base=0.01)
    stream = build_stream(client, server.url)
    with pytest.raises(IPBannedError, match="BANNED"):
        list(stream.get_records(None))
    assert server.hits("/api/v3/trades") == 1
    client.close()
