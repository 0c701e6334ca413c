"""Binance Spot public market data (and Binance.US): exchangeInfo, trades, aggTrades, dumps."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from schemahub_core.sim import pages
from schemahub_core.sim.binance_limits import WeightLimiter, too_much_weight
from schemahub_core.sim.bulk import BulkDumps
from schemahub_core.sim.exchange import ExchangeApp
from schemahub_core.sim.market import Market
from schemahub_core.sim.products import BINANCE_MARKETS, binance_symbol
from schemahub_core.sim.server import HTML_ERROR_PAGE, Response, Stats

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500
_UINT = re.compile(r"^[0-9]{1,20}$")
RESTRICTED_MSG = (
    "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you "
    "received this message in error."
)
WAF_PAGE = (
    b"<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1>"
    b"</center><hr><center>CloudFront</center></body></html>"
)
OVERLOADED_MSG = (
    "Server is currently overloaded with other requests. Please try again in a few minutes."
)
NOT_FOUND_PAGE = b"<html><body><h2>404 Not found</h2></body></html>"


class BinanceError(Exception):
    """A request refused with Binance's `{"code": .., "msg": ..}` body."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        """An error Binance answers with `code` and `msg`, sent with HTTP `status`."""
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _error(code: int, msg: str, status: int = 400) -> Response:
    return Response(status, json.dumps({"code": code, "msg": msg}, separators=(",", ":")).encode())


class Params:
    """Query parameters validated the Binance way; tracks which ones were read (-1104)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        """Take the request's query pairs; a repeated name is refused (-1101) as Binance does."""
        self.values: dict[str, str] = {}
        for name, value in pairs:
            if name in self.values:
                raise BinanceError(-1101, "Duplicate values for a parameter detected.")
            self.values[name] = value
        self.read: set[str] = set()

    def text(self, name: str) -> str | None:
        """Raw value of an optional parameter (empty counts as absent)."""
        self.read.add(name)
        value = self.values.get(name)
        return value if value else None

    def uint(self, name: str) -> int | None:
        """An optional unsigned integer parameter."""
        value = self.text(name)
        if value is None:
            return None
        if not _UINT.match(value):
            legal = "^[0-9]{1,20}$"
            raise BinanceError(
                -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
            )
        return int(value)

    def limit(self) -> int:
        """`limit`, default 500, 1..1000."""
        value = self.uint("limit")
        if value is None:
            return DEFAULT_LIMIT
        if not 1 <= value <= MAX_LIMIT:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        return value

    def check_all_read(self) -> None:
        """Binance refuses parameters it does not know."""
        if set(self.values) - self.read:
            read = len(set(self.values) & self.read)
            raise BinanceError(
                -1104,
                f"Not all sent parameters were read; read '{read}' parameter(s) but was sent "
                f"'{len(self.values)}'.",
            )


def _time_bounds_us(value: int | None) -> tuple[int, int] | None:
    """startTime/endTime arrive in milliseconds or microseconds (told apart by size).

    Returns the instant in microseconds and the first microsecond after that unit, since
    Binance's bounds are inclusive at the unit the client used.
    """
    if value is None:
        return None
    unit = 1 if value >= 10**14 else 1000
    return value * unit, (value + 1) * unit


class BinanceApp(ExchangeApp):
    """Answers requests the way api.binance.com (or api.binance.us) does; also serves dumps."""

    exchange = "binance"
    listings = BINANCE_MARKETS

    def open(self, stats: Stats | None) -> None:
        """The symbol list, the weight limiter and the bulk dumps."""
        self.metadata = [binance_symbol(spec) for spec in BINANCE_MARKETS]
        self.limiter = WeightLimiter(self.settings, stats)
        self.bulk = BulkDumps(self.markets, self.clock, self.settings)
        self.routes: dict[str, tuple[int, Callable[[Params, Any], Response]]] = {
            "/api/v3/ping": (1, lambda p, h: Response(200, b"{}")),
            "/api/v3/time": (1, self._time),
            "/api/v3/exchangeInfo": (20, self._exchange_info),
            "/api/v3/trades": (25, self._recent_trades),
            "/api/v3/historicalTrades": (25, self._historical_trades),
            "/api/v3/aggTrades": (4, self._agg_trades),
        }

    def fault_response(self, kind: str) -> Response:
        """Binance-shaped bodies for injected faults."""
        if kind == "429":
            headers = {"Retry-After": str(self.settings.storm_retry_after)}
            return Response(429, too_much_weight(self.limiter.limit()), headers=headers)
        if kind == "html":
            return Response(502, HTML_ERROR_PAGE, "text/html")
        status = self.settings.fault_5xx_status
        if status == 503:
            return _error(-1008, OVERLOADED_MSG, 503)
        return _error(-1000, HTTPStatus(status).phrase, status)

    def handle(self, path: str, params: list[tuple[str, str]], headers: Any) -> Response:
        """Route one GET request."""
        if path.startswith("/data/"):
            return self.bulk.handle(path)
        if self.settings.restricted:
            return _error(0, RESTRICTED_MSG, 451)
        if self.settings.waf:
            return Response(403, WAF_PAGE, "text/html")
        route = self.routes.get(path)
        if route is None:
            return Response(404, NOT_FOUND_PAGE, "text/html")
        weight, handler = route
        verdict = self.limiter.charge(weight)
        response = verdict.refusal
        if response is None:
            try:
                parsed = Params(params)
                response = handler(parsed, headers)
                parsed.check_all_read()
            except BinanceError as exc:
                response = _error(exc.code, exc.msg, exc.status)
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(verdict.used)
        return response

    # ----- helpers ---------------------------------------------------------------------------
    def _market(self, params: Params) -> Market:
        symbol = params.text("symbol")
        if symbol is None:
            raise BinanceError(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        market = self.markets.get(symbol)
        if market is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return market

    @staticmethod
    def _unit(headers: Any) -> str:
        unit = (headers.get("X-MBX-TIME-UNIT") or "").upper() if headers is not None else ""
        return "us" if unit == "MICROSECOND" else "ms"

    # ----- endpoints -------------------------------------------------------------------------
    def _time(self, params: Params, headers: Any) -> Response:
        now = self.clock.now_us() // (1 if self._unit(headers) == "us" else 1000)
        return Response(200, json.dumps({"serverTime": now}).encode())

    def _exchange_info(self, params: Params, headers: Any) -> Response:
        symbol, symbols = params.text("symbol"), params.text("symbols")
        status = params.text("symbolStatus")
        params.text("permissions")
        params.text("showPermissionSets")
        if sum(v is not None for v in (symbol, symbols, status)) > 1:
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        wanted: list[str] | None = None
        if symbol is not None:
            wanted = [symbol]
        elif symbols is not None:
            try:
                wanted = json.loads(symbols)
            except ValueError:
                wanted = None
            if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted):
                raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'.")
        by_name = {s["symbol"]: s for s in self.metadata}
        if wanted is None:
            chosen = [s for s in self.metadata if status is None or s["status"] == status]
        elif any(name not in by_name for name in wanted):
            raise BinanceError(-1121, "Invalid symbol.")
        else:
            chosen = [by_name[name] for name in wanted]
        limit = self.limiter.limit()
        body = {
            "timezone": "UTC",
            "serverTime": self.clock.now_us() // 1000,
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": limit,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": 61000,
                },
            ],
            "exchangeFilters": [],
            "symbols": chosen,
        }
        return Response(200, json.dumps(body, separators=(",", ":")).encode())

    def _recent_trades(self, params: Params, headers: Any) -> Response:
        market, limit = self._market(params), params.limit()
        newest = market.newest_id(self.clock.now_us())
        fmt = f"binance_{self._unit(headers)}"
        page = pages.trades(market, fmt, market.first_id, newest, limit, newest_first=True)
        return Response(200, pages.Page(page.rows[::-1], page.ids[::-1]).json())

    def _historical_trades(self, params: Params, headers: Any) -> Response:
        if self.settings.binance_us and not headers.get("X-MBX-APIKEY"):
            raise BinanceError(-2014, "API-key format invalid.", 401)
        from_id = params.uint("fromId")
        if from_id is None:
            return self._recent_trades(params, headers)
        market, limit = self._market(params), params.limit()
        newest = market.newest_id(self.clock.now_us())
        fmt = f"binance_{self._unit(headers)}"
        lo = max(from_id, market.first_id)
        return Response(200, pages.trades(market, fmt, lo, newest, limit).json())

    def _agg_trades(self, params: Params, headers: Any) -> Response:
        market, limit = self._market(params), params.limit()
        from_id = params.uint("fromId")
        start = _time_bounds_us(params.uint("startTime"))
        end = _time_bounds_us(params.uint("endTime"))
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        unit = self._unit(headers)
        fmt = f"agg_{unit}"
        now = self.clock.now_us()
        newest = market.newest_id(now)
        hi = newest
        if end is not None:
            hi = min(newest, pages.id_at_or_after(market, end[1], now) - 1)
        if from_id is not None:
            lo = pages.agg_start_trade_id(market, from_id)
            page = pages.aggregates(market, fmt, lo, hi, limit)
        elif start is not None:
            page = pages.aggregates(
                market, fmt, pages.id_at_or_after(market, start[0], now), hi, limit
            )
        else:
            page = pages.aggregates(market, fmt, market.first_id, hi, limit, newest_last=True)
        return Response(200, page.json())
