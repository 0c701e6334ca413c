"""The Binance tap: settings and stream list."""

from __future__ import annotations

import functools
from typing import Any

from schemahub_core.tap_common import check_settings, common_settings
from singer_sdk import Tap
from singer_sdk import typing as th

from tap_binance import __version__
from tap_binance.client import BinanceAPI, exchange_for
from tap_binance.streams import SymbolsStream, TradesStream

DEFAULT_WEIGHT_LIMIT = {"BINANCE": 6000, "BINANCEUS": 1200}


class TapBinance(Tap):
    """Singer tap for Binance spot trades (REST, with bulk backfill from the public dumps)."""

    name = "tap-binance"
    plugin_version = __version__

    config_jsonschema = th.PropertiesList(
        *common_settings(
            tap_name=name,
            version=__version__,
            exchange="Binance",
            api_url="https://api.binance.com",
            api_url_note=(
                "Use https://api.binance.us for Binance.US (different trade ids, 1200 "
                "weight/minute, api_key required)."
            ),
            start_date_how="found with one aggTrades lookup, no scan of history",
            concurrency=2,
            concurrency_note=(
                "historicalTrades pages fetched in parallel per symbol (all within the weight "
                "budget)."
            ),
        ),
        th.Property(
            "symbols",
            th.ArrayType(th.StringType),
            default=["BTCUSDT", "ETHUSDT"],
            description=(
                "Symbols to extract, as names (BTCUSDT) or glob patterns (*USDT, BTC*), resolved "
                "against exchangeInfo. Patterns match only symbols whose status is TRADING."
            ),
        ),
        th.Property(
            "api_key",
            th.StringType,
            secret=True,
            description=(
                "Binance API key, sent as X-MBX-APIKEY and never logged. Optional on binance.com; "
                "required on Binance.US for historicalTrades."
            ),
        ),
        th.Property(
            "weight_limit_per_minute",
            th.IntegerType,
            description=(
                "The exchange's REQUEST_WEIGHT limit per minute for this IP. Default: 6000 for "
                "api.binance.com, 1200 for Binance.US."
            ),
        ),
        th.Property(
            "weight_budget_fraction",
            th.NumberType,
            default=0.9,
            description=(
                "Share of weight_limit_per_minute the tap may use (0 < f < 1), leaving headroom "
                "for other clients on the same IP. Default 0.9."
            ),
        ),
        th.Property(
            "backfill_source",
            th.StringType,
            default="auto",
            allowed_values=["rest", "bulk", "auto"],
            description=(
                "Where whole past days come from: 'bulk' = the daily/monthly dumps at bulk_url "
                "(SHA-256 verified), 'rest' = historicalTrades only, 'auto' = bulk on binance.com "
                "and rest on Binance.US (the dumps hold binance.com data only)."
            ),
        ),
        th.Property(
            "bulk_url",
            th.StringType,
            default="https://data.binance.vision",
            description="Base URL of the public trade dumps (data.binance.vision or a mirror).",
        ),
        th.Property(
            "exchange",
            th.StringType,
            allowed_values=["BINANCE", "BINANCEUS"],
            description=(
                "Value of the records' exchange field. Default: BINANCEUS when api_url's host ends "
                "in binance.us, else BINANCE. Set it only when api_url is a proxy or simulator."
            ),
        ),
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Parse the settings and keep the secret ones (api_key) out of every log line.

        Refuses `batch_config` combined with record transforms.
        """
        super().__init__(*args, **kwargs)
        check_settings(self)

    @property
    def exchange(self) -> str:
        """BINANCE or BINANCEUS: the trade-id space the configured api_url serves."""
        return self.config.get("exchange") or exchange_for(self.config["api_url"])

    @functools.cached_property
    def api(self) -> BinanceAPI:
        """The one Binance client of this run, shared by all streams (one weight budget)."""
        limit = self.config.get("weight_limit_per_minute") or DEFAULT_WEIGHT_LIMIT[self.exchange]
        return BinanceAPI(
            self.config["api_url"],
            api_key=self.config.get("api_key"),
            weight_limit_per_minute=limit,
            weight_budget_fraction=self.config["weight_budget_fraction"],
            concurrency=self.config["concurrency"],
            user_agent=self.config["user_agent"],
            logger=self.logger,
        )

    @functools.cached_property
    def exchange_info(self) -> list[dict]:
        """The exchangeInfo symbol list, fetched once per run."""
        return self.api.exchange_info()

    def discover_streams(self) -> list[SymbolsStream | TradesStream]:
        """Return the tap's streams."""
        return [SymbolsStream(self), TradesStream(self)]


if __name__ == "__main__":
    TapBinance.cli()
