"""The two streams: `coinbase_products` (full table) and `coinbase_trades` (incremental)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from schemahub_core.batch_files import stream_batches
from schemahub_core.fastpath import PageWriter, cold_start_time, fast_path_allowed, integer_bookmark
from schemahub_core.metrics import log_metric
from schemahub_core.progress import ProgressReporter
from schemahub_core.sdk_seam import tap_of
from schemahub_core.tap_common import FastTrades, JsonlBatches
from singer_sdk import typing as th
from singer_sdk.streams import Stream

from tap_coinbase.emit import TradeLines, trade_record
from tap_coinbase.fetcher import fetch_in_order
from tap_coinbase.planner import Page, plan_pages, trim_page
from tap_coinbase.search import first_trade_id_at_or_after

if TYPE_CHECKING:
    from schemahub_core.sdk_seam import BatchConfig, BatchEncoding

# Pages in flight or waiting to be emitted, per concurrent worker: enough to hide latency
# jitter, small enough that memory stays flat (a page is at most 1000 trades).
LOOKAHEAD_PER_WORKER = 2
TRADES_ENDPOINT = "/products/{product_id}/trades"


class ProductsStream(JsonlBatches, Stream):
    """GET /products: every product Coinbase lists, as sent."""

    name = "coinbase_products"
    primary_keys = ("id",)
    replication_key = None
    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True, description="Product id, e.g. BTC-USD"),
        th.Property("base_currency", th.StringType),
        th.Property("quote_currency", th.StringType),
        th.Property("quote_increment", th.StringType),
        th.Property("base_increment", th.StringType),
        th.Property("display_name", th.StringType),
        th.Property("min_market_funds", th.StringType),
        th.Property("margin_enabled", th.BooleanType),
        th.Property("post_only", th.BooleanType),
        th.Property("limit_only", th.BooleanType),
        th.Property("cancel_only", th.BooleanType),
        th.Property("status", th.StringType, description="online or delisted"),
        th.Property("status_message", th.StringType),
        th.Property("trading_disabled", th.BooleanType),
        th.Property("fx_stablecoin", th.BooleanType),
        th.Property("max_slippage_percentage", th.StringType),
        th.Property("auction_mode", th.BooleanType),
        th.Property("high_bid_limit_percentage", th.StringType),
    ).to_dict()

    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Yield the products listed by Coinbase, sorted by id."""
        catalog = tap_of(self).catalog_of_products  # type: ignore[attr-defined]
        for product_id in sorted(catalog.by_id):
            yield dict(catalog.by_id[product_id])


class TradesStream(FastTrades, Stream):
    """GET /products/{id}/trades: one partition per product, ascending `trade_id`."""

    name = "coinbase_trades"
    primary_keys = ("product_id", "trade_id")
    replication_key = "trade_id"
    schema = th.PropertiesList(
        th.Property("trade_id", th.IntegerType, required=True, description="Dense per product"),
        th.Property("side", th.StringType, description="Maker side as sent: buy or sell"),
        th.Property("size", th.StringType, description="Base quantity, decimal string as sent"),
        th.Property("price", th.StringType, description="Price, decimal string as sent"),
        th.Property("time", th.StringType, description="RFC 3339 UTC time, exactly as sent"),
        th.Property("product_id", th.StringType, required=True),
        th.Property("base_asset", th.StringType),
        th.Property("quote_asset", th.StringType),
    ).to_dict()

    @property
    def partitions(self) -> list[dict]:
        """One partition per resolved product id."""
        return [{"product_id": pid} for pid in tap_of(self).product_ids]  # type: ignore[attr-defined]

    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Yield the trades of one product after its watermark, ascending by `trade_id`.

        On the fast path whole pages are written here and nothing is yielded.
        """
        fast = fast_path_allowed(self)
        writer = PageWriter(self, context or {})
        lines: TradeLines | None = None
        for trades, extra in self._pages(context):
            if not fast:
                yield from (trade_record(trade, extra) for trade in trades)
            elif trades:
                lines = lines or TradeLines(self.name, extra)
                writer.write(lines.page(trades), len(trades), trades[-1]["trade_id"])
        if fast:
            writer.log_record_count(TRADES_ENDPOINT)

    def get_batches(
        self, batch_config: BatchConfig, context: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[BatchEncoding, list[str]]]:
        """Batch files of the trades (the BATCH lane), written a REST page at a time."""
        return stream_batches(self, batch_config, context, self._batch_pages)

    def _batch_pages(self, context: Mapping[str, Any] | None) -> Iterator[list[dict[str, Any]]]:
        """The partition's new trades, a page of records at a time."""
        for trades, extra in self._pages(context):
            yield [trade_record(trade, extra) for trade in trades]

    def _pages(
        self, context: Mapping[str, Any] | None
    ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
        """The trades of one product after its watermark, a page at a time, in order."""
        if context is None:
            raise RuntimeError("coinbase_trades is synced per product partition, got no context")
        product_id = context["product_id"]
        api = tap_of(self).api  # type: ignore[attr-defined]
        page_size = int(self.config["page_size"])
        newest_page = api.trades_before(product_id, None, 1)
        if not newest_page:
            self.logger.info("coinbase_trades %s: Coinbase lists no trades yet", product_id)
            return
        newest = newest_page[0]
        watermark = self._watermark(context, newest)
        newest_id = int(newest["trade_id"])
        if watermark >= newest_id:
            self.logger.info("coinbase_trades %s: up to date at trade %d", product_id, newest_id)
            return
        self.logger.info(
            "coinbase_trades %s: reading trades %d..%d (%d ids)",
            product_id,
            watermark + 1,
            newest_id,
            newest_id - watermark,
        )
        yield from self._fetch_pages(context, watermark, newest_id, page_size)

    def _fetch_pages(
        self, context: Mapping[str, Any], watermark: int, newest_id: int, page_size: int
    ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
        """Fetch the planned pages in parallel; yield them in order with the product's fields.

        Gaps are counted on the way.
        """
        product_id = context["product_id"]
        product = tap_of(self).catalog_of_products.by_id[product_id]  # type: ignore[attr-defined]
        extra = {
            "product_id": product_id,
            "base_asset": product.get("base_currency"),
            "quote_asset": product.get("quote_currency"),
        }
        api = tap_of(self).api  # type: ignore[attr-defined]
        concurrency = max(1, int(self.config["concurrency"]))
        progress = ProgressReporter(
            self.name,
            product_id,
            watermark + 1,
            newest_id,
            self.logger,
            stream_progress=self.stream_progress,
        )
        gap_ids = 0

        def fetch(page: Page) -> list[dict[str, Any]]:
            return api.trades_before(product_id, page.after, page.limit)

        pages = fetch_in_order(
            plan_pages(watermark, newest_id, page_size),
            fetch,
            concurrency=concurrency,
            lookahead=concurrency * LOOKAHEAD_PER_WORKER,
        )
        for page, trades in pages:
            result = trim_page(page, trades)
            if result.gaps:
                gap_ids += self._log_gaps(product_id, page, result.gaps)
            yield result.trades, extra
            progress.advance_to(page.high)
        progress.finish()
        tags = {"endpoint": TRADES_ENDPOINT, "context": {"product_id": product_id}}
        log_metric(self.metrics_logger, "counter", "gap_trade_ids", gap_ids, tags)

    def _log_gaps(self, product_id: str, page: Page, gaps: list[tuple[int, int]]) -> int:
        """Log the ids missing in one page as ranges (one line per page); return their count."""
        missing = sum(high - low + 1 for low, high in gaps)
        shown = ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in gaps[:20])
        more = f" and {len(gaps) - 20} more ranges" if len(gaps) > 20 else ""
        self.logger.warning(
            "coinbase_trades %s: %d trade ids missing at Coinbase in %d..%d: %s%s "
            "(never invented; the watermark moves past them)",
            product_id,
            missing,
            page.low,
            page.high,
            shown,
            more,
        )
        return missing

    def _watermark(self, context: Mapping[str, Any], newest: dict[str, Any]) -> int:
        """Last trade id already delivered: the bookmark, else from start_date or lookback."""
        product_id = context["product_id"]
        bookmark = integer_bookmark(self, context)
        if bookmark is not None:
            return bookmark
        when = cold_start_time(self.config)
        if self.config.get("start_date"):
            reason = f"start_date {self.config['start_date']}"
        else:
            minutes = float(self.config["lookback_minutes"])
            reason = f"no bookmark and no start_date: last {minutes:g} minutes"
        api = tap_of(self).api  # type: ignore[attr-defined]
        first_id = first_trade_id_at_or_after(
            when,
            newest,
            lambda after, limit: api.trades_before(product_id, after, limit),
            page_size=int(self.config["page_size"]),
            logger=self.logger,
            product_id=product_id,
        )
        newest_id = int(newest["trade_id"])
        self.logger.info(
            "coinbase_trades %s: cold start (%s) begins at trade %s",
            product_id,
            reason,
            first_id if first_id is not None else f"after {newest_id} (nothing that recent)",
        )
        return newest_id if first_id is None else first_id - 1
