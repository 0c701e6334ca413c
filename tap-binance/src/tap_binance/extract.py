"""Which trades of one symbol to fetch, and from where (dumps first, then REST).

Trades come out as chunks in ascending id order, each chunk either a REST page (list of
dicts) or a dump batch (Arrow). Every id in ``first_id..last_id`` is emitted once: before
each dump batch, a gap since the last emitted id (a day without a dump, a late file) is
filled over REST, and REST takes over after the last dumped id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeAlias

import pyarrow as pa
from schemahub_core.read_ahead import read_ahead

from tap_binance.bulk import DumpPeriod, DumpStore, plan_periods, read_dump, select_ids
from tap_binance.client import PAGE_LIMIT, BinanceAPI

Chunk: TypeAlias = list[dict] | pa.RecordBatch
# Dump batches (4 MB of CSV, ~50k trades, each) read ahead of the caller: ~64 MB.
DUMP_READ_AHEAD = 16


def utc_day(epoch_us: int) -> date:
    """UTC calendar day of an epoch time in microseconds."""
    return datetime.fromtimestamp(epoch_us / 1_000_000, UTC).date()


class TradeExtractor:
    """Fetches the trades ``first_id..last_id`` of one symbol as ordered chunks."""

    def __init__(
        self,
        api: BinanceAPI,
        symbol: str,
        *,
        concurrency: int,
        dumps: DumpStore | None,
        logger: logging.Logger,
    ) -> None:
        """``dumps`` None means REST only."""
        self.api = api
        self.symbol = symbol
        self.concurrency = concurrency
        self.dumps = dumps
        self.logger = logger

    def chunks(self, first_id: int, last_id: int, newest_time_ms: int) -> Iterator[Chunk]:
        """All trades with ``first_id <= id <= last_id``, ascending, each exactly once."""
        next_id = first_id
        if self.dumps is not None:
            batches = self._dump_batches(first_id, last_id, newest_time_ms)
            for batch in read_ahead(batches, DUMP_READ_AHEAD):
                batch_first = batch["id"][0].as_py()
                if batch_first > next_id:
                    yield from self.rest_chunks(next_id, batch_first - 1)
                yield batch
                next_id = batch["id"][-1].as_py() + 1
                if next_id > last_id:
                    return
        yield from self.rest_chunks(next_id, last_id)

    def rest_chunks(self, first_id: int, last_id: int) -> Iterator[list[dict]]:
        """Pages of historicalTrades from ``first_id`` up to ``last_id``, in order.

        ``concurrency`` pages are in flight. Ids are dense on Binance, but pages are clipped to
        ids above the last one emitted, so sparse ids would still come out once each, in order.
        """
        next_id = first_id
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="binance-page") as pool:
            while next_id <= last_id:
                stop = min(last_id + 1, next_id + PAGE_LIMIT * self.concurrency)
                starts = range(next_id, stop, PAGE_LIMIT)
                pages = pool.map(
                    lambda start: self.api.historical_trades(self.symbol, start), starts
                )
                for page in pages:
                    fresh = [trade for trade in page if next_id <= trade["id"] <= last_id]
                    if fresh:
                        yield fresh
                        next_id = fresh[-1]["id"] + 1
                    if len(page) < PAGE_LIMIT or (page and page[-1]["id"] >= last_id):
                        # The newest trade, or the end of the range, was reached.
                        return

    def _dump_batches(
        self, first_id: int, last_id: int, newest_time_ms: int
    ) -> Iterator[pa.RecordBatch]:
        """Batches of the dump files, clipped to ``first_id..last_id``.

        From the day of trade ``first_id`` to the day before the newest trade (today's file
        does not exist yet).
        """
        assert self.dumps is not None
        head = self.api.historical_trades(self.symbol, first_id, limit=1)
        if not head:
            return
        start_day = utc_day(head[0]["time"])
        end_day = utc_day(newest_time_ms * 1000)
        for period, path in self._dump_files(start_day, end_day):
            if path is None:
                self.logger.info(
                    "%s: no %s dump for %s (404); REST fills it",
                    self.symbol,
                    period.kind,
                    period.label,
                )
                continue
            try:
                for batch in read_dump(path, period):
                    selected = select_ids(batch, first_id, last_id)
                    if selected.num_rows:
                        yield selected
            finally:
                path.unlink(missing_ok=True)

    def _dump_files(
        self, start_day: date, end_day: date
    ) -> Iterator[tuple[DumpPeriod, Path | None]]:
        """Each planned file with its verified local copy (None if not published).

        A missing monthly file is replaced by the daily files of that month.
        """
        assert self.dumps is not None
        for period in plan_periods(start_day, end_day):
            path = self.dumps.fetch(self.symbol, period)
            if path is None and period.kind == "monthly":
                self.logger.info(
                    "%s: no monthly dump for %s, using daily files", self.symbol, period.label
                )
                for day in period.days():
                    yield day, self.dumps.fetch(self.symbol, day)
            else:
                yield period, path
