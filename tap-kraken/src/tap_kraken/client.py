"""Kraken REST calls through schemahub-core: one rate limiter per pair, one shared breaker.

Kraken reports errors, throttling included, as HTTP 200 with a non-empty `error` array.
`answer_status` gives each such answer the HTTP status it means, so that core's retries,
backoff and breaker treat it like any other exchange's answer: throttling is a 429 (retried,
neutral for the breaker), `EService:*` a 503 (retried, a breaker failure), anything else
(unknown pair, invalid arguments) a 400 (fatal, with Kraken's words in the error).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import requests
from schemahub_core.breaker import CircuitBreaker
from schemahub_core.errors import FatalAPIError
from schemahub_core.http import ExchangeClient
from schemahub_core.ratelimit import TokenBucket

MAX_COUNT = 1000
# Kraken's public counter allows about one call per second per pair with a small burst; a
# client burst of 1 keeps a steady pace that never reaches the counter's ceiling.
CLIENT_BURST = 1.0
THROTTLED = ("EGeneral:Too many requests", "EAPI:Rate limit exceeded")
SERVICE_PREFIX = "EService:"
_OK_PREFIX = b'{"error":[]'

# [price, volume, time, side, ordertype, misc, trade_id], `time` as the text Kraken sent.
Row = tuple[str, str, str, str, str, str, int]
# A row's `time` is its only number between two strings: `"0.34507674",1688669597.8277369,"b"`.
# Quoting it before decoding keeps its digits (a float would lose the 7th decimal); a time in
# any other form is left a number and fails the decoder's type check, loudly.
_TIME_NUMBER = re.compile(rb'",(-?[0-9]+(?:\.[0-9]+)?),"')


class TradesAnswer(msgspec.Struct):
    """The body of a successful Trades call: rows under the pair's name, and `last`."""

    result: dict[str, list[Row] | str]


_TRADES_DECODER = msgspec.json.Decoder(TradesAnswer)


def answer_status(response: requests.Response) -> int:
    """The HTTP status a Kraken answer means (its errors come with HTTP 200)."""
    if response.status_code != 200 or response.content.startswith(_OK_PREFIX):
        return response.status_code
    try:
        errors = json.loads(response.content).get("error")
    except (ValueError, AttributeError):
        return 502  # not Kraken's JSON (a CDN page with status 200): retried
    if not errors:
        return 200
    if any(str(e).startswith(THROTTLED) for e in errors):
        return 429
    if any(str(e).startswith(SERVICE_PREFIX) for e in errors):
        return 503
    return 400


@dataclass(frozen=True)
class TradesPage:
    """One Trades answer: rows ascending (`time` kept as its text) and the `last` cursor.

    `plain`: no string of the answer needs JSON escaping (ASCII, no backslash), so the
    record writer may copy them as they are.
    """

    rows: list[Row]
    last: int
    plain: bool


def parse_trades(body: bytes) -> TradesPage:
    """Decode a Trades answer, keeping each `time` as the text of its JSON number.

    Raises `msgspec.ValidationError`/`DecodeError` or `ValueError` for any other shape.
    """
    # split() drops each match's `",` and `,"` and keeps the time between the other parts:
    # joining with `","` puts them back with the time quoted (C speed; re.sub's template
    # would run in Python for every row).
    quoted = b'","'.join(_TIME_NUMBER.split(body))
    result = _TRADES_DECODER.decode(quoted).result
    last = result.pop("last", None)
    (rows,) = result.values()
    if not isinstance(last, str) or isinstance(rows, str):
        raise ValueError("expected one pair's rows and a `last` string")
    return TradesPage(rows, int(last), plain=b"\\" not in body and body.isascii())


class KrakenAPI:
    """The public endpoints the tap reads; Trades calls are paced per pair."""

    def __init__(
        self,
        api_url: str,
        *,
        max_requests_per_second: float,
        user_agent: str,
        logger: logging.Logger,
    ) -> None:
        """One client for the pair-less calls; one more per pair, created on first use."""
        self.api_url = api_url
        self.rate = max_requests_per_second
        self.user_agent = user_agent
        self.logger = logger
        self.breaker = CircuitBreaker("kraken", logger=logger)
        self._clients: dict[str, ExchangeClient] = {}
        self._lock = threading.Lock()

    def client(self, pair: str) -> ExchangeClient:
        """The client (own rate limiter, shared breaker) for one pair's calls, or '' for others."""
        with self._lock:
            client = self._clients.get(pair)
            if client is None:
                client = ExchangeClient(
                    self.api_url,
                    limiter=TokenBucket(rate=self.rate, burst=CLIENT_BURST),
                    breaker=self.breaker,
                    concurrency=1,
                    user_agent=self.user_agent,
                    logger=self.logger,
                    answer_status=answer_status,
                )
                self._clients[pair] = client
            return client

    def _get(self, pair: str, path: str, params: Mapping[str, Any]) -> requests.Response:
        """GET a public endpoint; Kraken's errors raise (see the module docstring)."""
        try:
            return self.client(pair).get(path, params)
        except FatalAPIError as exc:
            raise FatalAPIError(
                status=exc.status,
                exchange_message=f"{exc.exchange_message} (pair {pair or '-'}, GET {path})",
                url=exc.url,
                code=exc.code,
            ) from exc

    def asset_pairs(self) -> dict[str, dict[str, Any]]:
        """Every pair Kraken lists, keyed by canonical name (XXBTZUSD)."""
        return dict(json.loads(self._get("", "/0/public/AssetPairs", {}).content)["result"])

    def trades(self, pair: str, since: int | None, count: int = MAX_COUNT) -> TradesPage:
        """Up to `count` trades of `pair` (altname) from `since` (ns), else the newest ones."""
        params: dict[str, Any] = {"pair": pair, "count": count}
        if since is not None:
            params["since"] = since
        response = self._get(pair, "/0/public/Trades", params)
        try:
            return parse_trades(response.content)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            raise FatalAPIError(
                status=response.status_code,
                exchange_message=f"Trades answer of pair {pair} not understood: {exc}",
                url=self.client(pair).redact(response.url),
            ) from exc

    def close(self) -> None:
        """Close every pooled connection."""
        for client in self._clients.values():
            client.close()
