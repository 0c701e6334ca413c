"""Binance bulk dumps in the data.binance.vision layout, generated lazily from the market.

A dump holds exactly the REST trades of its UTC day (or month): same ids, prices, sizes.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
import threading
import zipfile
from collections import OrderedDict
from datetime import UTC, datetime

from schemahub_core.sim import pages
from schemahub_core.sim.clock import SimClock
from schemahub_core.sim.formats import rows
from schemahub_core.sim.market import Market
from schemahub_core.sim.server import Response
from schemahub_core.sim.settings import Settings

# Dumps switch from millisecond to microsecond timestamps on this day.
MICROS_FROM_US = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1e6)
CACHE_FILES = 8
_PATH = re.compile(
    r"^/data/spot/(daily|monthly)/trades/([A-Z0-9]+)/\2-trades-"
    r"(\d{4})-(\d{2})(?:-(\d{2}))?\.zip(\.CHECKSUM)?$"
)


def _not_found(path: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
        f"<Message>The specified key does not exist.</Message><Key>{path.lstrip('/')}</Key>"
        "</Error>"
    )
    return Response(404, body.encode(), "application/xml")


def _period(kind: str, year: int, month: int, day: int | None) -> tuple[int, int] | None:
    """[start, end) of a daily or monthly file in epoch microseconds; None if no such date."""
    try:
        if kind == "daily":
            if day is None:
                return None
            start = datetime(year, month, day, tzinfo=UTC)
            end_s = start.timestamp() + 86400
        else:
            if day is not None:
                return None
            start = datetime(year, month, 1, tzinfo=UTC)
            end_s = start.timestamp() + calendar.monthrange(year, month)[1] * 86400
    except ValueError:
        return None
    return int(start.timestamp() * 1e6), int(end_s * 1e6)


class BulkDumps:
    """Serves `/data/spot/{daily,monthly}/trades/SYM/SYM-trades-DATE.zip[.CHECKSUM]`."""

    def __init__(self, markets: dict[str, Market], clock: SimClock, settings: Settings):
        """Serve dumps of `markets` as of `clock`; the last `CACHE_FILES` zips built are kept."""
        self.markets = markets
        self.clock = clock
        self.settings = settings
        self._cache: OrderedDict[str, bytes | None] = OrderedDict()
        self._lock = threading.Lock()

    def handle(self, path: str) -> Response:
        """Answer one request for a zip or its checksum."""
        match = _PATH.match(path)
        if match is None or match.group(2) not in self.markets:
            return _not_found(path)
        kind, symbol, year, month, day, checksum = match.groups()
        stamp = f"{year}-{month}" if day is None else f"{year}-{month}-{day}"
        if stamp in {d.strip() for d in self.settings.missing_dumps.split(",")}:
            return _not_found(path)
        zip_name = path.rsplit("/", 1)[1].removesuffix(".CHECKSUM")
        data = self.zip_bytes(
            symbol, kind, int(year), int(month), None if day is None else int(day)
        )
        if data is None:
            return _not_found(path)
        if not checksum:
            return Response(200, data, "application/zip")
        digest = hashlib.sha256(data).hexdigest()
        if self.settings.corrupt_checksum:
            digest = hashlib.sha256(data + b"corrupted").hexdigest()
        return Response(200, f"{digest}  {zip_name}\n".encode(), "text/plain")

    def zip_bytes(
        self, symbol: str, kind: str, year: int, month: int, day: int | None
    ) -> bytes | None:
        """The zip of one period, or None when it is not published (no trades, or not over)."""
        key = f"{symbol}/{kind}/{year}-{month}-{day}"
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        period = _period(kind, year, month, day)
        data = None if period is None else self._build(symbol, kind, period)
        if data is not None or period is None:
            with self._lock:  # "not yet published" is not cached: it changes with the clock
                self._cache[key] = data
                if len(self._cache) > CACHE_FILES:
                    self._cache.popitem(last=False)
        return data

    def _build(self, symbol: str, kind: str, period: tuple[int, int]) -> bytes | None:
        start, end = period
        if end > self.clock.now_us():
            return None
        market = self.markets[symbol]
        now = self.clock.now_us()
        lo = pages.id_at_or_after(market, start, now)
        hi = min(pages.id_at_or_after(market, end, now) - 1, market.newest_id(now))
        if hi < lo:
            return None
        fmt = "csv_us" if start >= MICROS_FROM_US else "csv_ms"
        first = datetime.fromtimestamp(start / 1e6, tz=UTC)
        stamp = first.strftime("%Y-%m-%d" if kind == "daily" else "%Y-%m")
        info = zipfile.ZipInfo(
            f"{symbol}-trades-{stamp}.csv", (first.year, first.month, first.day, 0, 0, 0)
        )
        info.compress_type = zipfile.ZIP_DEFLATED
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive, archive.open(info, "w") as csv:
            # Block by block, so a month of a busy symbol never sits in memory as text.
            for block_start in range(lo, hi + 1, 4096):
                block_end = min(hi, block_start + 4095)
                for b, i0, i1 in pages.trade_slices(market, block_start, block_end):
                    csv.write(("\n".join(rows(market, b, fmt)[i0:i1]) + "\n").encode())
        return buffer.getvalue()
