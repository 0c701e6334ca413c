"""The two streams: `coinbase_products` (full table) and `coinbase_trades` (incremental)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from schemahub_core.metrics import log_metric
from schemahub_core.progress import ProgressReporter, StreamProgress
from singer_sdk import typing as th
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams import Stream

from tap_coinbase.emit import FastTradeWriter, trade_record
from tap_coinbase.fetcher import fetch_in_order
from tap_coinbase.planner import Page, plan_pages, trim_page
from tap_coinbase.search import first_trade_id_at_or_after

# Pages in flight or waiting to be emitted, per concurrent worker: enough to hide latency
# jitter, small enough that memory stays flat (a page is at most 1000 trades).
LOOKAHEAD_PER_WORKER = 2


class ProductsStream(Stream):
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
        catalog = self._tap.catalog_of_products  # type: ignore[attr-defined]
        for product_id in sorted(catalog.by_id):
            yield dict(catalog.by_id[product_id])


class TradesStream(Stream):
    """GET /products/{id}/trades: one partition per product, ascending `trade_id`."""

    name = "coinbase_trades"
    primary_keys = ("product_id", "trade_id")
    replication_key = "trade_id"
    is_sorted = True
    # Class switch so tests and the benchmark can force singer-sdk's own record path.
    allow_fast_emission = True
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

    @cached_property
    def stream_progress(self) -> StreamProgress:
        """The totals across every partition of this run, shared by their progress lines."""
        return StreamProgress()

    @property
    def partitions(self) -> list[dict]:
        """One partition per resolved product id."""
        return [{"product_id": pid} for pid in self._tap.product_ids]  # type: ignore[attr-defined]

    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        """Yield the trades of one product after its watermark, ascending by `trade_id`."""
        if context is None:
            raise RuntimeError("coinbase_trades is synced per product partition, got no context")
        product_id = context["product_id"]
        api = self._tap.api  # type: ignore[attr-defined]
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
        yield from self._read_range(context, watermark, newest_id, page_size)

    def _read_range(
        self, context: Mapping[str, Any], watermark: int, newest_id: int, page_size: int
    ) -> Iterable[dict[str, Any]]:
        """Fetch the planned pages in parallel and emit them in order, counting gaps."""
        product_id = context["product_id"]
        product = self._tap.catalog_of_products.by_id[product_id]  # type: ignore[attr-defined]
        extra = {
            "product_id": product_id,
            "base_asset": product.get("base_currency"),
            "quote_asset": product.get("quote_currency"),
        }
        api = self._tap.api  # type: ignore[attr-defined]
        concurrency = max(1, int(self.config["concurrency"]))
        progress = ProgressReporter(
            self.name,
            product_id,
            watermark + 1,
            newest_id,
            self.logger,
            stream_progress=self.stream_progress,
        )
        fast = self._fast_writer(extra)
        gap_ids = 0
        emitted = 0

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
            if fast is not None:
                if result.trades:
                    fast.write(result.trades)
                    self._after_fast_write(result.trades[-1], context, emitted, len(result.trades))
            else:
                yield from (trade_record(trade, extra) for trade in result.trades)
            emitted += len(result.trades)
            progress.advance_to(page.high)
        progress.finish()
        tags = {"endpoint": "/products/{product_id}/trades", "context": {"product_id": product_id}}
        log_metric(self.metrics_logger, "counter", "gap_trade_ids", gap_ids, tags)
        if fast is not None:
            # singer-sdk's own record_count for this partition reads 0: the page writer
            # bypassed its per-record counter, so report the real figure beside it.
            tags["path"] = "page_writer"
            log_metric(self.metrics_logger, "counter", "record_count", emitted, tags)

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
        """Last trade id already delivered: the bookmark, else from start_date or lookback.

        singer-sdk hands back the config `start_date` when no bookmark exists, even though
        `trade_id` is an integer, so a string here means "search by time".
        """
        product_id = context["product_id"]
        start = self.get_starting_replication_key_value(context)
        if isinstance(start, int) and not isinstance(start, bool):
            return start
        if isinstance(start, str) and start.strip().isdigit():
            return int(start)
        if start:
            when = datetime.fromisoformat(str(start))
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            reason = f"start_date {start}"
        else:
            minutes = float(self.config["lookback_minutes"])
            when = datetime.now(UTC) - timedelta(minutes=minutes)
            reason = f"no bookmark and no start_date: last {minutes:g} minutes"
        api = self._tap.api  # type: ignore[attr-defined]
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

    def _fast_writer(self, extra: dict[str, Any]) -> FastTradeWriter | None:
        """The fast writer when every singer-sdk record step is the identity, else None."""
        maps = self.stream_maps
        plain_map = (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == self.name
            and not maps[0].flattening_enabled
        )
        all_fields = all(self.mask.values())
        if (
            self.allow_fast_emission
            and plain_map
            and all_fields
            and self.ABORT_AT_RECORD_COUNT is None
            and self.get_batch_config(self.config) is None
            and not self.child_streams
        ):
            return FastTradeWriter(self.name, extra)
        return None

    def _after_fast_write(
        self, last: Mapping[str, Any], context: Mapping[str, Any], emitted_before: int, written: int
    ) -> None:
        """Advance the bookmark to the last written record; emit STATE at the SDK's cadence.

        Called only after the records are written and flushed, so a STATE never covers a
        record that is not on stdout yet.
        """
        self._increment_stream_state({"trade_id": last["trade_id"]}, context=context)
        self.state_manager.is_flushed = False
        every = self.STATE_MSG_FREQUENCY
        if emitted_before // every != (emitted_before + written) // every:
            self._write_state_message()
