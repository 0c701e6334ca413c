"""TapCoinbase: settings and the list of streams."""

from __future__ import annotations

import functools
from typing import Any

from schemahub_core.tap_common import check_settings, common_settings
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.streams import Stream

from tap_coinbase import __version__
from tap_coinbase.client import CoinbaseAPI
from tap_coinbase.products import ProductCatalog
from tap_coinbase.streams import ProductsStream, TradesStream

DEFAULT_API_URL = "https://api.exchange.coinbase.com"
# Coinbase's documented public limit is 10 requests/s per IP (bursts up to 15).
COINBASE_PUBLIC_RATE = 10.0
MAX_PAGE_SIZE = 1000


class TapCoinbase(Tap):
    """Singer tap for Coinbase Exchange public products and trades."""

    name = "tap-coinbase"
    plugin_version = __version__

    config_jsonschema = th.PropertiesList(
        *common_settings(
            tap_name=name,
            version=__version__,
            exchange="Coinbase Exchange",
            api_url=DEFAULT_API_URL,
            api_url_note="Point it at a local simulator (`schemahub sim coinbase`) for tests.",
            start_date_how="found by searching trade ids, not by scanning history",
            concurrency=8,
            concurrency_note=(
                "Trade pages fetched in parallel per product (ids are dense, so page cursors "
                "are known up front). Records are still emitted in ascending trade_id order."
            ),
            max_requests_per_second=COINBASE_PUBLIC_RATE,
            rate_note=(
                "requests per second, shared by all threads of the tap. Coinbase allows 10 "
                "public requests/s per IP; lower it when other programs share the IP."
            ),
        ),
        th.Property(
            "product_ids",
            th.ArrayType(th.StringType),
            default=["BTC-USD", "ETH-USD"],
            description=(
                "Products whose trades are extracted: exact ids (`BTC-USD`) or glob patterns "
                "(`*-USD`, `BTC-*`) resolved against GET /products. Unknown ids fail with "
                "close matches; delisted products are skipped with a warning."
            ),
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=MAX_PAGE_SIZE,
            description=(
                "`limit` sent with each trades request, 2 to 1000 (Coinbase's maximum). Each "
                "page covers page_size - 1 new ids so it is exact whether `after` is strict "
                "or inclusive."
            ),
        ),
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Keep secrets out of the logs; validate what singer-sdk's JSON schema cannot express."""
        super().__init__(*args, **kwargs)
        check_settings(self)
        page_size = int(self.config.get("page_size", MAX_PAGE_SIZE))
        if not 2 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(
                f"tap-coinbase setting page_size={page_size} is out of range: Coinbase accepts "
                f"at most {MAX_PAGE_SIZE} trades per request and each page needs at least 2. "
                f"Set page_size between 2 and {MAX_PAGE_SIZE} (1000 is fastest)."
            )

    @functools.cached_property
    def api(self) -> CoinbaseAPI:
        """The one HTTP client of this run: shared rate limiter, breaker and retries."""
        return CoinbaseAPI.from_config(self.config, logger=self.logger)

    @functools.cached_property
    def catalog_of_products(self) -> ProductCatalog:
        """Products listed by GET /products, fetched once per run."""
        return ProductCatalog(self.api.list_products())

    @functools.cached_property
    def product_ids(self) -> list[str]:
        """The configured ids and glob patterns, resolved to listed, tradable products."""
        return self.catalog_of_products.resolve(self.config["product_ids"], self.logger)

    def discover_streams(self) -> list[Stream]:
        """Return the streams of this tap (no API call: schemas are static)."""
        return [ProductsStream(tap=self), TradesStream(tap=self)]


if __name__ == "__main__":
    TapCoinbase.cli()
