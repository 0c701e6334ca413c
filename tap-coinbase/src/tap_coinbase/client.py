"""Coinbase Exchange REST calls, through schemahub-core's shared limiter, breaker and retries."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from schemahub_core.breaker import CircuitBreaker
from schemahub_core.errors import FatalAPIError
from schemahub_core.http import ExchangeClient
from schemahub_core.ratelimit import TokenBucket

# A client burst well below Coinbase's 15 leaves the server bucket ~10 tokens of slack, so
# network jitter bunching our steady 10 req/s never reaches a 429.
CLIENT_BURST_SHARE = 0.5
# Coinbase outages are rare and short; a breaker streak of 10 (more than one round of
# parallel pages) with a 5 s cooldown stops hammering without stalling on a single blip.
BREAKER_FAILURES = 10
BREAKER_COOLDOWN_SECONDS = 5.0

Trade = dict[str, Any]


class CoinbaseAPI:
    """Typed wrappers for the two public endpoints the tap reads."""

    def __init__(self, client: ExchangeClient) -> None:
        """Wrap an `ExchangeClient` whose base URL is the Coinbase Exchange API."""
        self.client = client

    @classmethod
    def from_config(cls, config: Mapping[str, Any], logger: logging.Logger) -> CoinbaseAPI:
        """Build the client, limiter and breaker from the tap settings."""
        rate = float(config.get("max_requests_per_second") or 10.0)
        concurrency = max(1, int(config.get("concurrency") or 1))
        limiter = TokenBucket(rate=rate, burst=max(1.0, rate * CLIENT_BURST_SHARE))
        breaker = CircuitBreaker(
            "coinbase",
            failure_threshold=BREAKER_FAILURES,
            cooldown_seconds=BREAKER_COOLDOWN_SECONDS,
            logger=logger,
        )
        client = ExchangeClient(
            config["api_url"],
            limiter=limiter,
            breaker=breaker,
            concurrency=concurrency,
            user_agent=config.get("user_agent") or "tap-coinbase",
            logger=logger,
        )
        return cls(client)

    def list_products(self) -> list[dict[str, Any]]:
        """GET /products: every product Coinbase lists, delisted ones included."""
        return list(self.client.get_json("/products"))

    def trades_before(self, product_id: str, after: int | None, limit: int) -> list[Trade]:
        """GET /products/{id}/trades?after=..&limit=..: newest first, as Coinbase sends them.

        `after=None` asks for the newest trades. A 404 names the product.
        """
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        try:
            trades = self.client.get_json(f"/products/{product_id}/trades", params)
        except FatalAPIError as exc:
            raise FatalAPIError(
                status=exc.status,
                exchange_message=(
                    f"{exc.exchange_message} (while reading trades of product {product_id})"
                ),
                url=exc.url,
                code=exc.code,
            ) from exc
        if not isinstance(trades, list):
            raise FatalAPIError(
                status=200,
                exchange_message=f"expected a JSON array of trades, got {type(trades).__name__}",
                url=self.client.url_for(f"/products/{product_id}/trades"),
            )
        return trades
