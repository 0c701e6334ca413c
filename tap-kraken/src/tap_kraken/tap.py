"""TapKraken: settings and the list of streams."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from schemahub_core.tap_common import check_settings, common_settings
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
        *common_settings(
            tap_name=name,
            version=__version__,
            exchange="Kraken",
            api_url=DEFAULT_API_URL,
            api_url_note="Point it at a local simulator (`schemahub sim kraken`) for tests.",
            start_date_how="Kraken's `since` is a time: no scan of history",
            concurrency=8,
            concurrency_note=(
                "Pairs read in parallel, each at its own rate. Records are still emitted pair "
                "by pair, each in ascending trade_id order."
            ),
            max_requests_per_second=KRAKEN_PAIR_RATE,
            rate_note=(
                "Trades calls per second, per pair (Kraken counts calls per IP and per pair, "
                "about 1/s sustained). Lower it when other programs on this IP read the same "
                "pairs."
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
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Parse the settings; refuse `batch_config` combined with record transforms."""
        super().__init__(*args, **kwargs)
        check_settings(self)

    @functools.cached_property
    def api(self) -> KrakenAPI:
        """The Kraken client of this run: a rate limiter per pair, one breaker, retries."""
        return KrakenAPI(
            self.config["api_url"],
            max_requests_per_second=float(self.config["max_requests_per_second"]),
            user_agent=self.config["user_agent"],
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
