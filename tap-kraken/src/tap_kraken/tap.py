"""TapKraken: settings and the list of streams."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from schemahub_core.batch_files import refuse_batch_with_transforms
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.streams import Stream

from tap_kraken import __version__
from tap_kraken.client import KrakenAPI
from tap_kraken.pairs import Pair, pair_of, resolve_pairs
from tap_kraken.streams import PairsStream, TradesStream

DEFAULT_API_URL = "https://api.kraken.com"
# Kraken's public call counter allows about one Trades call per second per pair.
KRAKEN_PAIR_RATE = 1.0


class TapKraken(Tap):
    """Singer tap for Kraken public pairs and trades."""

    name = "tap-kraken"
    plugin_version = __version__

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_url",
            th.StringType,
            default=DEFAULT_API_URL,
            description=(
                "Base URL of the Kraken REST API. Point it at a local simulator "
                "(`schemahub sim kraken`) for tests."
            ),
        ),
        th.Property(
            "pairs",
            th.ArrayType(th.StringType),
            default=["XBTUSD", "ETHUSD"],
            description=(
                "Pairs whose trades are extracted: altnames (`XBTUSD`; canonical names like "
                "`XXBTZUSD` work too) or glob patterns over the online pairs (`*USD`, `XBT*`), "
                "resolved against GET /0/public/AssetPairs. Unknown names fail with close "
                "matches. Bitcoin is XBT and Dogecoin XDG at Kraken."
            ),
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description=(
                "Without a saved bookmark, start at the first trade at or after this time "
                "(Kraken's `since` is a time: no scan of history). A bookmark always wins."
            ),
        ),
        th.Property(
            "lookback_minutes",
            th.NumberType,
            default=45,
            description=(
                "Without a bookmark and without start_date, read only the trades of the last "
                "N minutes (a safe cold start instead of all history)."
            ),
        ),
        th.Property(
            "max_requests_per_second",
            th.NumberType,
            default=KRAKEN_PAIR_RATE,
            description=(
                "Client-side limit of Trades calls per second, per pair (Kraken counts calls "
                "per IP and per pair, about 1/s sustained). Lower it when other programs on "
                "this IP read the same pairs."
            ),
        ),
        th.Property(
            "concurrency",
            th.IntegerType,
            default=8,
            description=(
                "Pairs read in parallel, each at its own rate. Records are still emitted pair "
                "by pair, each in ascending trade_id order."
            ),
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default=f"tap-kraken/{__version__}",
            description="User-Agent header sent with every request.",
        ),
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Parse the settings; refuse `batch_config` combined with record transforms."""
        super().__init__(*args, **kwargs)
        refuse_batch_with_transforms(self)

    @functools.cached_property
    def api(self) -> KrakenAPI:
        """The Kraken client of this run: a rate limiter per pair, one breaker, retries."""
        return KrakenAPI(
            self.config["api_url"],
            max_requests_per_second=float(self.config["max_requests_per_second"]),
            user_agent=self.config.get("user_agent") or f"tap-kraken/{__version__}",
            logger=self.logger,
        )

    @functools.cached_property
    def asset_pairs(self) -> dict[str, dict[str, Any]]:
        """GET /0/public/AssetPairs, fetched once per run."""
        return self.api.asset_pairs()

    @functools.cached_property
    def pairs(self) -> list[Pair]:
        """The configured names and patterns, resolved against the listed pairs."""
        return resolve_pairs(self.config["pairs"], self.asset_pairs)

    @staticmethod
    def pair_of(canonical: str, entry: Mapping[str, Any]) -> Pair:
        """The `Pair` (altname, assets) of one AssetPairs entry."""
        return pair_of(canonical, entry)

    def discover_streams(self) -> list[Stream]:
        """Return the streams of this tap (no API call: schemas are static)."""
        return [PairsStream(tap=self), TradesStream(tap=self)]


if __name__ == "__main__":
    TapKraken.cli()
