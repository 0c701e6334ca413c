"""Pairs read in parallel (Kraken's limit is per pair), emitted one partition after another.

singer-sdk syncs partitions one at a time. Each pair's pages are therefore fetched by its own
thread into a `PageSpool` (a temporary file), so a pair whose turn to be emitted has not come
yet keeps reading at its full rate without holding its backlog in memory. A page in a spool is
only a cache: the bookmark moves when its records are emitted, so a crash loses nothing.
"""

from __future__ import annotations

import itertools
import logging
import pickle
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from schemahub_core.progress import ProgressReporter

from tap_kraken.client import KrakenAPI, Row
from tap_kraken.pairs import Pair

TRADE_ID: Final = 6  # position of trade_id in a Kraken trade row (Final: typed as Row[6])
MEMORY_PAGES = 16  # unread pages a spool keeps in memory (~2 MB) before using its file


@dataclass(frozen=True)
class PairStart:
    """Where one pair's read begins: the last trade id emitted and the `since` cursor."""

    pair: Pair
    watermark: int | None  # None on a cold start: every trade from `since` on is new
    since: int  # nanoseconds


@dataclass(frozen=True)
class FreshPage:
    """The trades of one answer above the watermark, ascending, and the cursor that fetched it.

    Fetching again from `since` returns every trade after the previous page (both readings of
    `since`), so a bookmark inside this page resumes from `since` without a gap.
    """

    since: int
    rows: list[Row]
    plain: bool = False  # no string needs JSON escaping (see TradesPage)


class PageSpool:
    """Pages of one pair, appended by its fetcher thread, read back in order by the stream.

    The first `memory_pages` unread pages stay in memory (the pair being emitted reads them
    as they come); a longer backlog goes to an anonymous temporary file.
    """

    def __init__(self, memory_pages: int = MEMORY_PAGES) -> None:
        """An empty spool."""
        # Closed by close(), when the stream is done with this pair.
        self._file = tempfile.TemporaryFile(prefix="tap-kraken-")  # noqa: SIM115
        self._memory_pages = memory_pages
        self._cond = threading.Condition()
        self._entries: list[FreshPage | tuple[int, int] | None] = []
        self._in_memory = 0
        self._end = 0
        self._finished = False
        self._error: BaseException | None = None

    def put(self, page: FreshPage) -> None:
        """Append one page."""
        with self._cond:
            if self._in_memory < self._memory_pages:
                self._entries.append(page)
                self._in_memory += 1
            else:
                data = pickle.dumps(page, protocol=pickle.HIGHEST_PROTOCOL)
                self._file.seek(self._end)
                self._file.write(data)
                self._entries.append((self._end, len(data)))
                self._end += len(data)
            self._cond.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        """No more pages; `error` (if any) is raised to the reader after the last page."""
        with self._cond:
            self._finished, self._error = True, error
            self._cond.notify_all()

    def __iter__(self) -> Iterator[FreshPage]:
        """Every page in order, waiting for the fetcher; re-raises the fetcher's error."""
        for index in itertools.count():
            with self._cond:
                while index >= len(self._entries) and not self._finished:
                    self._cond.wait()
                if index >= len(self._entries):
                    if self._error is not None:
                        raise self._error
                    return
                entry, self._entries[index] = self._entries[index], None
                if isinstance(entry, FreshPage):
                    self._in_memory -= 1
                    page = entry
                else:
                    assert entry is not None, "each page is read once"
                    self._file.seek(entry[0])
                    page = pickle.loads(self._file.read(entry[1]))
            yield page

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()


class OutOfOrderError(RuntimeError):
    """Kraken sent trade ids that do not increase within a page."""


def read_pair(
    api: KrakenAPI,
    start: PairStart,
    spool: PageSpool,
    cancel: threading.Event,
    logger: logging.Logger,
    stream_name: str,
) -> None:
    """Fetch one pair's trades after the watermark, up to its newest trade at the start.

    Pages follow Kraken's `last` cursor; trades at or below the watermark (the boundary
    repeats of an inclusive `since`) are dropped, so each trade is spooled once.
    """
    altname = start.pair.altname
    newest = api.trades(altname, None, 1).rows
    watermark = start.watermark
    if not newest or (watermark is not None and watermark >= newest[-1][TRADE_ID]):
        logger.info("%s %s: up to date at trade %s", stream_name, altname, watermark)
        return
    newest_id = int(newest[-1][TRADE_ID])
    since = start.since
    progress: ProgressReporter | None = None
    while not cancel.is_set():
        page = api.trades(altname, since)
        fresh = [row for row in page.rows if watermark is None or row[TRADE_ID] > watermark]
        if fresh:
            _check_increasing(fresh, stream_name, altname, since)
            spool.put(FreshPage(since, fresh, page.plain))
            watermark = int(fresh[-1][TRADE_ID])
            if progress is None:
                first = int(fresh[0][TRADE_ID])
                progress = ProgressReporter(stream_name, altname, first, newest_id, logger)
            progress.advance_to(watermark)
        # A page of repeats only (a restart from a bookmark at a page's end) still moves the
        # cursor on; an empty page, or one that cannot move it, is the end.
        caught_up = watermark is not None and watermark >= newest_id
        if caught_up or not page.rows or page.last <= since:
            break
        since = page.last
    if progress is not None:
        progress.finish()


def _check_increasing(rows: list[Row], stream_name: str, altname: str, since: int) -> None:
    """Raise if a page's trade ids do not strictly increase."""
    for before, after in itertools.pairwise(rows):
        if before[TRADE_ID] >= after[TRADE_ID]:
            raise OutOfOrderError(
                f"{stream_name} {altname}: Kraken sent trade {after[TRADE_ID]} after "
                f"{before[TRADE_ID]} in the page since={since}; trade ids must increase. "
                "Nothing after the last bookmark was emitted; rerun later or report it."
            )


class PairFeeds:
    """Fetcher threads for several pairs, each into its own spool."""

    def __init__(
        self,
        api: KrakenAPI,
        starts: list[PairStart],
        *,
        parallel: int,
        logger: logging.Logger,
        stream_name: str,
    ) -> None:
        """Start reading every pair at once (at most `parallel` at a time)."""
        self._spools = {start.pair.altname: PageSpool() for start in starts}
        self._cancel = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(parallel, len(starts))), thread_name_prefix="tap-kraken"
        )
        self.closed = False
        for start in starts:
            self._pool.submit(self._read, api, start, logger, stream_name)

    def _read(
        self, api: KrakenAPI, start: PairStart, logger: logging.Logger, stream_name: str
    ) -> None:
        spool = self._spools[start.pair.altname]
        try:
            read_pair(api, start, spool, self._cancel, logger, stream_name)
        except BaseException as exc:  # handed to the stream, raised in the pair's turn
            spool.finish(exc)
        else:
            spool.finish()

    def pages(self, altname: str) -> Iterator[FreshPage]:
        """The pages of one pair, in order, as they arrive."""
        yield from self._spools[altname]

    def close(self) -> None:
        """Stop every fetcher, wait for them, delete the spools."""
        self.closed = True
        self._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for spool in self._spools.values():
            spool.close()
