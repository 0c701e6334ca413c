"""The tap's streams: binance_symbols (full table) and binance_trades (incremental on id)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
from schemahub_core.batch_files import Page, constant_columns, stream_batches
from schemahub_core.fastpath import PageWriter, cold_start_time, fast_path_allowed, integer_bookmark
from schemahub_core.progress import ProgressReporter
from schemahub_core.record_layout import time_extracted_now
from schemahub_core.tap_common import FastTrades, JsonlBatches
from singer_sdk import typing as th
from singer_sdk.helpers.types import Context

from tap_binance.bulk import TRADE_SCHEMA, DumpStore
from tap_binance.client import BinanceConfigError, BinanceStream
from tap_binance.extract import TradeExtractor
from tap_binance.fastpath import render_record_lines
from tap_binance.symbols import resolve_symbols

if TYPE_CHECKING:
    from schemahub_core.sdk_seam import BatchConfig, BatchEncoding


class SymbolsStream(JsonlBatches, BinanceStream):
    """Every symbol of the exchange, from /api/v3/exchangeInfo.

    The schema declares every field exchangeInfo documents for a symbol: an undeclared one is
    dropped by singer-sdk with a warning on every run.
    """

    name = "binance_symbols"
    primary_keys: ClassVar[list[str]] = ["symbol"]
    replication_key = None
    schema = th.PropertiesList(
        th.Property("symbol", th.StringType, required=True),
        th.Property("status", th.StringType),
        th.Property("baseAsset", th.StringType),
        th.Property("baseAssetPrecision", th.IntegerType),
        th.Property("quoteAsset", th.StringType),
        th.Property("quotePrecision", th.IntegerType),
        th.Property("quoteAssetPrecision", th.IntegerType),
        th.Property("baseCommissionPrecision", th.IntegerType),
        th.Property("quoteCommissionPrecision", th.IntegerType),
        th.Property("orderTypes", th.ArrayType(th.StringType)),
        th.Property("icebergAllowed", th.BooleanType),
        th.Property("ocoAllowed", th.BooleanType),
        th.Property("otoAllowed", th.BooleanType),
        th.Property("quoteOrderQtyMarketAllowed", th.BooleanType),
        th.Property("allowTrailingStop", th.BooleanType),
        th.Property("cancelReplaceAllowed", th.BooleanType),
        th.Property("isSpotTradingAllowed", th.BooleanType),
        th.Property("isMarginTradingAllowed", th.BooleanType),
        th.Property("filters", th.ArrayType(th.ObjectType(additional_properties=True))),
        th.Property("permissions", th.ArrayType(th.StringType)),
        th.Property("permissionSets", th.ArrayType(th.ArrayType(th.StringType))),
        th.Property("defaultSelfTradePreventionMode", th.StringType),
        th.Property("allowedSelfTradePreventionModes", th.ArrayType(th.StringType)),
        th.Property("exchange", th.StringType, description="BINANCE or BINANCEUS"),
    ).to_dict()

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """One record per exchangeInfo symbol."""
        for entry in self.exchange_symbols:
            yield {**entry, "exchange": self.exchange}


class TradesStream(FastTrades, BinanceStream):
    """Trades of each configured symbol, ascending by id, resumable from the last id."""

    name = "binance_trades"
    primary_keys: ClassVar[list[str]] = ["symbol", "id"]
    replication_key = "id"
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True, description="Trade id (per exchange)"),
        th.Property("price", th.StringType, description="Decimal string, exactly as sent"),
        th.Property("qty", th.StringType, description="Base quantity, decimal string"),
        th.Property("quoteQty", th.StringType, description="Quote quantity, decimal string"),
        th.Property("time", th.IntegerType, description="Trade time, epoch microseconds"),
        th.Property("isBuyerMaker", th.BooleanType, description="True: the taker sold"),
        th.Property("isBestMatch", th.BooleanType),
        th.Property("symbol", th.StringType, required=True),
        th.Property("base_asset", th.StringType),
        th.Property("quote_asset", th.StringType),
        th.Property("exchange", th.StringType, description="BINANCE or BINANCEUS (id space)"),
    ).to_dict()

    @property
    def partitions(self) -> list[dict]:
        """One partition per resolved symbol (names and glob patterns from `symbols`)."""
        symbols = resolve_symbols(
            self.config["symbols"], self.exchange_symbols, self.config["api_url"]
        )
        return [{"symbol": symbol} for symbol in symbols]

    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """Trades of one symbol, up to the newest trade at partition start.

        They start after the watermark, or else at start_date or the lookback window.
        """
        assert context is not None
        constants = self._constants(context["symbol"])
        fast = fast_path_allowed(self)
        writer = PageWriter(self, context)
        for chunk in self._chunks(context):
            if not isinstance(chunk, pa.RecordBatch):
                yield from ({**trade, **constants} for trade in chunk)
            elif fast:
                lines = render_record_lines(chunk, self.name, constants, time_extracted_now())
                writer.write(lines, chunk.num_rows, chunk["id"][-1].as_py())
            else:
                yield from ({**row, **constants} for row in chunk.to_pylist())

    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterator[tuple[BatchEncoding, list[str]]]:
        """Batch files of the trades (the BATCH lane).

        Dump batches go to Parquet as the Arrow columns they were read as, REST pages as they
        come.
        """
        return stream_batches(self, batch_config, context, self._batch_pages)

    def _batch_pages(self, context: Context | None) -> Iterator[Page]:
        """The partition's trades a page at a time, with every field of a RECORD."""
        assert context is not None
        constants = self._constants(context["symbol"])
        for chunk in self._chunks(context):
            if not isinstance(chunk, pa.RecordBatch):  # a REST page: the dumps' columns too
                chunk = pa.RecordBatch.from_pylist(chunk, schema=TRADE_SCHEMA)
            yield constant_columns(chunk, constants)

    def _chunks(self, context: Context) -> Iterator[pa.RecordBatch | list[dict[str, Any]]]:
        """The partition's new trades: Arrow batches from the dumps, pages from REST."""
        symbol = context["symbol"]
        self._check_api_key()
        newest = self.api.newest_trade(symbol)
        if newest is None:
            self.logger.info("binance_trades %s: the exchange has no trades", symbol)
            return
        last_id, newest_time_ms = newest
        first_id = self._first_id(symbol, context)
        if first_id is None or first_id > last_id:
            self.logger.info("binance_trades %s: no new trades (newest id %d)", symbol, last_id)
            return
        extractor = TradeExtractor(
            self.api,
            symbol,
            concurrency=self.config["concurrency"],
            dumps=self._dump_store(),
            logger=self.logger,
        )
        progress = ProgressReporter(
            self.name,
            symbol,
            first_id,
            last_id,
            self.logger,
            interval=5.0,
            stream_progress=self.stream_progress,
        )
        try:
            for chunk in extractor.chunks(first_id, last_id, newest_time_ms):
                yield chunk
                if isinstance(chunk, pa.RecordBatch):
                    progress.advance_to(chunk["id"][-1].as_py(), "dump")
                else:
                    progress.advance_to(chunk[-1]["id"], "rest")
        finally:
            if extractor.dumps is not None:
                extractor.dumps.close()
        progress.finish()
        self.api.log_health(symbol)

    def _first_id(self, symbol: str, context: Context) -> int | None:
        """Watermark + 1, else the first trade at start_date, else at now - lookback."""
        watermark = integer_bookmark(self, context)
        if watermark is not None:
            return watermark + 1
        start_ms = int(cold_start_time(self.config).timestamp() * 1000)
        return self.api.first_trade_id_at(symbol, start_ms)

    def _constants(self, symbol: str) -> dict[str, str]:
        """Fields equal on every trade of ``symbol``."""
        meta = next(entry for entry in self.exchange_symbols if entry["symbol"] == symbol)
        return {
            "symbol": symbol,
            "base_asset": meta["baseAsset"],
            "quote_asset": meta["quoteAsset"],
            "exchange": self.exchange,
        }

    def _dump_store(self) -> DumpStore | None:
        """A dump downloader when whole past days should come from the dumps, else None."""
        source = self.config["backfill_source"]
        if source == "rest" or (source == "auto" and self.exchange == "BINANCEUS"):
            return None
        return DumpStore(self.config["bulk_url"], self.logger)

    def _check_api_key(self) -> None:
        """Binance.US answers historicalTrades only with an API key: say so before trying."""
        if self.exchange == "BINANCEUS" and not self.api.has_api_key:
            raise BinanceConfigError(
                "Binance.US requires an API key for /api/v3/historicalTrades. Set api_key "
                "(a read-only key is enough) in the tap-binance config."
            )
