"""Coinbase Exchange public market data: `/products`, `/products/{id}`, `/products/{id}/trades`."""

from __future__ import annotations

import json
import math
import re
from http import HTTPStatus
from typing import Any

from schemahub_core.sim import pages
from schemahub_core.sim.exchange import ExchangeApp
from schemahub_core.sim.market import Market
from schemahub_core.sim.products import COINBASE_MARKETS, coinbase_product
from schemahub_core.sim.server import HTML_ERROR_PAGE, Response, Stats
from schemahub_core.sim.token_bucket import TokenBucket

MAX_LIMIT = 1000
_CURSOR = re.compile(r"^[0-9]{1,19}$")
_LIMIT = re.compile(r"^-?[0-9]{1,9}$")
_TRADES = re.compile(r"^/products/([^/]+)/trades/?$")
_PRODUCT = re.compile(r"^/products/([^/]+)/?$")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status,
        json.dumps({"message": message}, separators=(",", ":")).encode(),
        headers=headers or {},
    )


class CoinbaseApp(ExchangeApp):
    """Answers requests the way api.exchange.coinbase.com does (see exchange-apis.md)."""

    exchange = "coinbase"
    listings = COINBASE_MARKETS

    def open(self, stats: Stats | None) -> None:
        """The product list and the public rate limit."""
        self.metadata = [coinbase_product(spec) for spec in COINBASE_MARKETS]
        self._products_body = json.dumps(self.metadata, separators=(",", ":")).encode()
        self.bucket = TokenBucket()

    def fault_response(self, kind: str) -> Response:
        """Coinbase-shaped bodies for injected faults."""
        if kind == "429":
            return self._rate_limited(1.0)
        if kind == "html":
            return Response(502, HTML_ERROR_PAGE, "text/html")
        status = self.settings.fault_5xx_status
        return _error(status, HTTPStatus(status).phrase)

    def _rate_limited(self, wait: float) -> Response:
        headers = {"Retry-After": str(max(1, math.ceil(wait)))} if self.settings.retry_after else {}
        return _error(429, "Public rate limit exceeded", headers)

    def handle(self, path: str, params: list[tuple[str, str]], headers: Any) -> Response:
        """Route one GET request."""
        s = self.settings
        if s.rate_limit:
            wait = self.bucket.take(s.rate_per_second, s.burst)
            if wait:
                return self._rate_limited(wait)
        if path.rstrip("/") == "/products":
            return Response(200, self._products_body)
        match = _TRADES.match(path)
        if match:
            return self._trades(match.group(1), dict(params))
        match = _PRODUCT.match(path)
        if match and match.group(1) in self.markets:
            product = next(p for p in self.metadata if p["id"] == match.group(1))
            return Response(200, json.dumps(product).encode())
        return _error(404, "NotFound")

    def _trades(self, product_id: str, params: dict[str, str]) -> Response:
        market = self.markets.get(product_id)
        if market is None:
            return _error(404, "NotFound")
        limit_text = params.get("limit", str(MAX_LIMIT))
        if not _LIMIT.match(limit_text) or not 1 <= int(limit_text) <= MAX_LIMIT:
            return _error(400, f"Invalid limit: must be between 1 and {MAX_LIMIT}")
        limit = int(limit_text)
        cursors = {}
        for name in ("after", "before"):
            if name in params:
                if not _CURSOR.match(params[name]):
                    return _error(400, f"Invalid value for pagination {name}")
                cursors[name] = int(params[name])
        if len(cursors) == 2:
            return _error(400, "Invalid value for pagination: use either before or after")
        page = self.page(market, self.clock.now_us(), limit, **cursors)
        headers = {}
        if page.ids:
            headers = {"CB-BEFORE": str(page.ids[0]), "CB-AFTER": str(page.ids[-1])}
        return Response(200, page.json(), headers=headers)

    def page(
        self,
        market: Market,
        now_us: int,
        limit: int,
        after: int | None = None,
        before: int | None = None,
    ) -> pages.Page:
        """The trades one request returns, newest first."""
        newest = market.newest_id(now_us)
        if before is not None:
            page = pages.trades(market, "coinbase", max(before + 1, market.first_id), newest, limit)
            return pages.Page(page.rows[::-1], page.ids[::-1])
        if after is not None:
            newest = min(newest, after if self.settings.after_inclusive else after - 1)
        return pages.trades(market, "coinbase", market.first_id, newest, limit, newest_first=True)
