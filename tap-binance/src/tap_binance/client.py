"""Binance REST access: endpoint weights, headers, and Binance-specific error advice.

Retries, backoff, the weight budget and the circuit breaker live in schemahub-core; this
module only configures them and knows what each Binance endpoint costs and returns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from schemahub_core.breaker import CircuitBreaker
from schemahub_core.errors import FatalAPIError
from schemahub_core.http import ExchangeClient
from schemahub_core.metrics import log_metric
from schemahub_core.ratelimit import WeightBudget
from schemahub_core.sdk_seam import tap_of
from singer_sdk.streams import Stream

# REQUEST_WEIGHT of each endpoint (Binance spot API docs).
WEIGHT_HISTORICAL_TRADES = 25
WEIGHT_AGG_TRADES = 4
WEIGHT_EXCHANGE_INFO = 20
PAGE_LIMIT = 1000
API_KEY_HEADER = "X-MBX-APIKEY"
# Trade times in microseconds: one unit for every source (REST, old and new dumps).
MICROSECOND_HEADERS = {"X-MBX-TIME-UNIT": "MICROSECOND"}
# Epoch microseconds are > 1e14 since 1973; a millisecond value is below it. Guards against a
# server (or proxy) that ignores X-MBX-TIME-UNIT.
_MICROSECONDS_FLOOR = 10**14


def exchange_for(api_url: str) -> str:
    """BINANCEUS for api.binance.us (its own trade-id space), else BINANCE."""
    host = (urlsplit(api_url).hostname or "").lower()
    return "BINANCEUS" if host == "binance.us" or host.endswith(".binance.us") else "BINANCE"


class BinanceConfigError(Exception):
    """A setting that cannot work against the configured exchange (told before any request)."""


class BinanceAPI:
    """The Binance endpoints the tap uses, each charged its weight against one shared budget."""

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None,
        weight_limit_per_minute: int,
        weight_budget_fraction: float,
        concurrency: int,
        user_agent: str,
        logger: logging.Logger,
    ) -> None:
        """Build the weight budget, breaker and retrying client for ``api_url``."""
        if not 0 < weight_budget_fraction < 1:
            raise BinanceConfigError(
                f"weight_budget_fraction is {weight_budget_fraction}; it must be above 0 and "
                "below 1 (for example 0.9) so that the tap never spends the whole IP limit."
            )
        if concurrency < 1:
            raise BinanceConfigError(f"concurrency is {concurrency}; it must be at least 1.")
        self.api_url = api_url.rstrip("/")
        self.logger = logger
        # A 429/418 Retry-After pauses every thread and shrinks the budget (see WeightBudget),
        # but never below what one historicalTrades page costs.
        budget = int(weight_limit_per_minute * weight_budget_fraction)
        self.budget = WeightBudget(
            weight_limit_per_minute,
            weight_budget_fraction,
            min_budget=max(WEIGHT_HISTORICAL_TRADES, budget // 4),
        )
        self.breaker = CircuitBreaker("binance", logger=logger)
        self.client = ExchangeClient(
            self.api_url,
            limiter=self.budget,
            breaker=self.breaker,
            concurrency=concurrency,
            user_agent=user_agent,
            # Sent on every request, redacted from every log line and error message.
            headers={API_KEY_HEADER: api_key} if api_key else None,
            sensitive_headers=[API_KEY_HEADER],
            logger=logger,
        )
        self.has_api_key = bool(api_key)

    def get(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        weight: int,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET ``path`` charged ``weight``; the decoded JSON, or an error with Binance advice."""
        try:
            return self.client.get_json(path, params, weight=weight, headers=headers)
        except FatalAPIError as error:
            if error.status == 451:
                raise FatalAPIError(
                    status=451,
                    exchange_message=(
                        f"{error.exchange_message} -- Binance refuses requests from this "
                        "location (api.binance.com is not available to US IPs). If you trade "
                        "on Binance.US, set `api_url: https://api.binance.us` (plus api_key)"
                    ),
                    url=error.url,
                    code=error.code,
                ) from error
            raise

    def exchange_info(self) -> list[dict]:
        """All symbols of the exchange (``/api/v3/exchangeInfo``)."""
        body = self.get("/api/v3/exchangeInfo", {}, weight=WEIGHT_EXCHANGE_INFO)
        return list(body["symbols"])

    def historical_trades(self, symbol: str, from_id: int, limit: int = PAGE_LIMIT) -> list[dict]:
        """Up to ``limit`` trades with id >= ``from_id``, ascending, times in microseconds."""
        trades = self.get(
            "/api/v3/historicalTrades",
            {"symbol": symbol, "fromId": from_id, "limit": limit},
            weight=WEIGHT_HISTORICAL_TRADES,
            headers=MICROSECOND_HEADERS,
        )
        for trade in trades:
            if trade["time"] < _MICROSECONDS_FLOOR:
                trade["time"] *= 1000
        return list(trades)

    def first_trade_id_at(self, symbol: str, start_ms: int) -> int | None:
        """Id of the first trade at or after ``start_ms`` (one aggTrades lookup), None if none."""
        # No time-unit header: startTime is then unambiguously milliseconds.
        aggregates = self.get(
            "/api/v3/aggTrades",
            {"symbol": symbol, "startTime": start_ms, "limit": 1},
            weight=WEIGHT_AGG_TRADES,
        )
        return int(aggregates[0]["f"]) if aggregates else None

    def newest_trade(self, symbol: str) -> tuple[int, int] | None:
        """(id, time in ms) of the newest trade of ``symbol`` (last aggregate), None if none."""
        aggregates = self.get(
            "/api/v3/aggTrades", {"symbol": symbol, "limit": 1}, weight=WEIGHT_AGG_TRADES
        )
        if not aggregates:
            return None
        time_ms = int(aggregates[-1]["T"])
        if time_ms >= _MICROSECONDS_FLOOR:
            time_ms //= 1000
        return int(aggregates[-1]["l"]), time_ms

    def log_health(self, symbol: str) -> None:
        """Log budget and breaker counters as singer-sdk metrics (once per symbol)."""
        tags = {"symbol": symbol, "exchange_api": self.api_url}
        for name, value in self.budget.counters.items():
            log_metric(self.logger, "counter", f"weight_budget_{name}", value, tags)
        for name, count in self.breaker.counters.items():
            if isinstance(count, int):
                log_metric(self.logger, "counter", f"breaker_{name}", count, tags)


class BinanceStream(Stream):
    """Base of the tap's streams: the shared API client and the exchange's symbol metadata."""

    @property
    def api(self) -> BinanceAPI:
        """The tap-wide client (one weight budget and breaker for every stream)."""
        return tap_of(self).api  # type: ignore[attr-defined]

    @property
    def exchange(self) -> str:
        """BINANCE or BINANCEUS, written into every record."""
        return tap_of(self).exchange  # type: ignore[attr-defined]

    @property
    def exchange_symbols(self) -> list[dict]:
        """The symbol list of exchangeInfo, fetched once per run and shared by the streams."""
        return tap_of(self).exchange_info  # type: ignore[attr-defined]
