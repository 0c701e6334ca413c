"""The tap's streams: kraken_pairs (full table) and kraken_trades (incremental on trade_id)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from schemahub_core.batch_files import stream_batches
from schemahub_core.fastpath import PageWriter, cold_start_time, fast_path_allowed, integer_bookmark
from schemahub_core.sdk_seam import tap_of
from schemahub_core.tap_common import FastTrades, JsonlBatches
from singer_sdk import typing as th
from singer_sdk.helpers.types import Context
from singer_sdk.streams import Stream

from tap_kraken.emit import TradeLines
from tap_kraken.feed import TRADE_ID, FreshPage, PairFeeds, PairStart
from tap_kraken.pairs import Pair

if TYPE_CHECKING:
    from schemahub_core.sdk_seam import BatchConfig, BatchEncoding

EXCHANGE = "KRAKEN"
# Kraken's trade row, in order: [price, volume, time, side, ordertype, misc, trade_id].
TRADE_FIELDS = ("price", "volume", "time", "side", "ordertype", "misc", "trade_id")
CURSOR_KEY = "last"  # Kraken's cursor, kept in the partition state beside the bookmark


class MissingCursorError(ValueError):
    """A bookmark without the `last` cursor: Kraken cannot resume from a trade id alone."""


class PairsStream(JsonlBatches, Stream):
    """Every pair Kraken lists, from GET /0/public/AssetPairs."""

    name = "kraken_pairs"
    primary_keys: ClassVar[list[str]] = ["pair"]
    replication_key = None
    schema = th.PropertiesList(
        th.Property("pair", th.StringType, required=True, description="Altname, e.g. XBTUSD"),
        th.Property("pair_name", th.StringType, description="Canonical name, e.g. XXBTZUSD"),
        th.Property("altname", th.StringType),
        th.Property("wsname", th.StringType, description="BASE/QUOTE without X/Z prefixes"),
        th.Property("aclass_base", th.StringType),
        th.Property("base", th.StringType, description="Kraken asset code, e.g. XXBT"),
        th.Property("aclass_quote", th.StringType),
        th.Property("quote", th.StringType, description="Kraken asset code, e.g. ZUSD"),
        th.Property("lot", th.StringType),
        th.Property("cost_decimals", th.IntegerType),
        th.Property("pair_decimals", th.IntegerType),
        th.Property("lot_decimals", th.IntegerType),
        th.Property("lot_multiplier", th.IntegerType),
        th.Property("fee_volume_currency", th.StringType),
        th.Property("ordermin", th.StringType),
        th.Property("costmin", th.StringType),
        th.Property("tick_size", th.StringType),
        th.Property("status", th.StringType, description="online, cancel_only, delisted, ..."),
        th.Property("base_asset", th.StringType, description="Common name, e.g. BTC"),
        th.Property("quote_asset", th.StringType, description="Common name, e.g. USD"),
    ).to_dict()

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """One record per listed pair, sorted by altname."""
        tap = tap_of(self)
        for canonical, entry in sorted(tap.asset_pairs.items(), key=lambda kv: kv[1]["altname"]):  # type: ignore[attr-defined]
            pair: Pair = tap.pair_of(canonical, entry)  # type: ignore[attr-defined]
            yield {
                "pair": pair.altname,
                "pair_name": canonical,
                **entry,
                "base_asset": pair.base_asset,
                "quote_asset": pair.quote_asset,
            }


class TradesStream(FastTrades, Stream):
    """Trades of each configured pair, ascending by trade_id, resumable from the bookmark."""

    name = "kraken_trades"
    primary_keys: ClassVar[list[str]] = ["pair", "trade_id"]
    replication_key = "trade_id"
    schema = th.PropertiesList(
        th.Property("price", th.StringType, description="Decimal string, exactly as sent"),
        th.Property("volume", th.StringType, description="Base quantity, decimal string"),
        th.Property(
            "time",
            th.StringType,
            description="Seconds since the epoch with up to 7 decimals: the JSON number's text",
        ),
        th.Property("side", th.StringType, description="Taker side: b (bought) or s (sold)"),
        th.Property("ordertype", th.StringType, description="Taker order: m(arket) or l(imit)"),
        th.Property("misc", th.StringType),
        th.Property("trade_id", th.IntegerType, required=True, description="Increasing, not dense"),
        th.Property("pair", th.StringType, required=True, description="Altname, e.g. XBTUSD"),
        th.Property("base_asset", th.StringType, description="e.g. BTC (Kraken's XBT)"),
        th.Property("quote_asset", th.StringType),
        th.Property("exchange", th.StringType, description="KRAKEN"),
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """No fetch starts before the first partition's turn."""
        super().__init__(*args, **kwargs)
        self._feeds: PairFeeds | None = None
        self._emitted: set[str] = set()

    @property
    def partitions(self) -> list[dict]:
        """One partition per resolved pair (altnames and glob patterns from `pairs`)."""
        return [{"pair": pair.altname} for pair in tap_of(self).pairs]  # type: ignore[attr-defined]

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Trades after the bookmark (or from start_date / the lookback window), ascending."""
        fast = fast_path_allowed(self)
        writer = PageWriter(self, context or {})
        lines: TradeLines | None = None
        for page, extra in self._pages(context):
            if not fast:
                yield from _records(page, extra)
                continue
            lines = lines or TradeLines(self.name, extra)
            text = lines.page(page.rows, plain=page.plain)
            writer.write(text, len(page.rows), page.rows[-1][TRADE_ID])
        if fast:
            writer.log_record_count("/0/public/Trades")

    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterator[tuple[BatchEncoding, list[str]]]:
        """Batch files of the trades (the BATCH lane), written a REST page at a time.

        A file is written as soon as it is full, inside the page just read, so the `last`
        cursor set before that page stays at or before the bookmark of the STATE that follows.
        """
        return stream_batches(self, batch_config, context, self._batch_pages)

    def _batch_pages(self, context: Context | None) -> Iterator[list[dict[str, Any]]]:
        """The partition's new trades, a page of records at a time."""
        for page, extra in self._pages(context):
            yield list(_records(page, extra))

    def _pages(self, context: Context | None) -> Iterator[tuple[FreshPage, dict[str, Any]]]:
        """The pair's new pages in order, each with the pair's fields; the cursor moves first."""
        if context is None:
            raise RuntimeError("kraken_trades is synced per pair partition, got no context")
        altname = context["pair"]
        feeds = self._running_feeds()
        pair = next(p for p in tap_of(self).pairs if p.altname == altname)  # type: ignore[attr-defined]
        extra = {
            "pair": altname,
            "base_asset": pair.base_asset,
            "quote_asset": pair.quote_asset,
            "exchange": EXCHANGE,
        }
        state = self.get_context_state(context)
        try:
            for page in feeds.pages(altname):
                # Set before the page's first record: any STATE from now on has its bookmark
                # inside this page, and re-reading from page.since loses nothing after it.
                state[CURSOR_KEY] = str(page.since)
                yield page, extra
        except BaseException:
            feeds.close()
            raise
        self._emitted.add(altname)
        if all(p.altname in self._emitted for p in tap_of(self).pairs):  # type: ignore[attr-defined]
            feeds.close()

    def _running_feeds(self) -> PairFeeds:
        """The fetchers of this run, started for every pair not yet emitted."""
        if self._feeds is None or self._feeds.closed:
            pending = [p for p in tap_of(self).pairs if p.altname not in self._emitted]  # type: ignore[attr-defined]
            self._feeds = PairFeeds(
                tap_of(self).api,  # type: ignore[attr-defined]
                [self._start_of(pair) for pair in pending],
                parallel=int(self.config["concurrency"]),
                logger=self.logger,
                stream_name=self.name,
            )
        return self._feeds

    def _start_of(self, pair: Pair) -> PairStart:
        """Bookmark and cursor from state, else a cursor at start_date or now - lookback."""
        context = {"pair": pair.altname}
        state = self.get_context_state(context)
        watermark = integer_bookmark(self, context)
        if watermark is not None:
            cursor = str(state.get(CURSOR_KEY, ""))
            if not cursor.isdigit():
                raise MissingCursorError(
                    f"kraken_trades {pair.altname}: the state has bookmark trade_id={watermark} "
                    f"but no '{CURSOR_KEY}' cursor, and Kraken pages by time, not by trade id. "
                    "Restore a state written by tap-kraken (it keeps both), or remove this "
                    "pair's bookmark and set start_date to re-read from a point in time (the "
                    "target drops trades it already committed)."
                )
            return PairStart(pair, watermark, int(cursor))
        start = cold_start_time(self.config)
        since = int(start.timestamp()) * 10**9 + start.microsecond * 1000
        return PairStart(pair, None, since)


def _records(page: FreshPage, extra: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """The records of one page: Kraken's fields as sent, `time` as text, then the pair's."""
    for price, volume, when, side, ordertype, misc, trade_id in page.rows:
        yield {
            "price": price,
            "volume": volume,
            # A whole second may come as an integer: its text is the same digits.
            "time": when if isinstance(when, str) else str(when),
            "side": side,
            "ordertype": ordertype,
            "misc": misc,
            "trade_id": trade_id,
            **extra,
        }
