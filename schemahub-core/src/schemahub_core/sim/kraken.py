"""Kraken public market data: Time, SystemStatus, AssetPairs and Trades.

Kraken answers errors (bad pair, throttling, outages) with HTTP 200 and a non-empty `error`
array; only the CDN in front of it sends real 5xx, as HTML pages. Trades page by time:
`since` is a nanosecond timestamp (seconds accepted), the answer's `last` is the time of the
page's last trade, to be sent back as `since`. Whether `since` is inclusive is not
documented, so both readings are modes: inclusive (the default) repeats the trades sharing
the boundary timestamp on the next page; exclusive never splits a shared timestamp across
pages (otherwise its remaining trades could never be read).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import numpy as np

from schemahub_core.sim import pages
from schemahub_core.sim.exchange import ExchangeApp
from schemahub_core.sim.formats import kraken_time_ns, rows
from schemahub_core.sim.market import Market
from schemahub_core.sim.products import KRAKEN_MARKETS, kraken_pair
from schemahub_core.sim.server import HTML_ERROR_PAGE, Response, Stats
from schemahub_core.sim.token_bucket import TokenBucket

MAX_COUNT = 1000
# A `since` below this is in seconds: nanoseconds since 1970 are ~1.7e18 today.
SECONDS_BELOW = 10**12
TRADES_BODY = '{"error":[],"result":{"%s":[%s],"last":"%d"}}'
_UINT = re.compile(r"^[0-9]{1,20}$")
TOO_MANY_REQUESTS = "EGeneral:Too many requests"
INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
UNKNOWN_PAIR = "EQuery:Unknown asset pair"
FAULT_ERRORS = {"unavailable": "EService:Unavailable", "busy": "EService:Busy"}
CDN_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>{status} {phrase}</title></head>\n"
    "<body><h1>{status} {phrase}</h1><p>api.kraken.com</p><hr>cloudflare</body></html>\n"
)


class KrakenError(Exception):
    """A request refused with Kraken's `{"error": [...]}` body."""


def _errors(*errors: str, status: int = 200) -> Response:
    return Response(status, json.dumps({"error": list(errors)}).encode())


def _result(result: Any) -> Response:
    return Response(
        200, json.dumps({"error": [], "result": result}, separators=(",", ":")).encode()
    )


def _uint(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not _UINT.match(value):
        raise KrakenError(INVALID_ARGUMENTS)
    return int(value)


class KrakenApp(ExchangeApp):
    """Answers requests the way api.kraken.com does (see exchange-apis.md)."""

    exchange = "kraken"
    listings = KRAKEN_MARKETS

    def open(self, stats: Stats | None) -> None:
        """The pair list (by altname and canonical name) and the per-counter rate limits."""
        pairs = [kraken_pair(spec) for spec in KRAKEN_MARKETS]
        self.asset_pairs = dict(pairs)
        self.metadata = [{"pair": canonical, **entry} for canonical, entry in pairs]
        self.canonical = {entry["altname"]: canonical for canonical, entry in pairs}
        # Requests name a pair by altname or canonical name.
        self._altname = {alt: alt for alt in self.canonical}
        self._altname.update({canonical: alt for alt, canonical in self.canonical.items()})
        self._buckets: dict[str, TokenBucket] = {}
        self.throttled = 0  # calls refused with `EGeneral:Too many requests` (HTTP 200)
        self._lock = threading.Lock()
        self.routes: dict[str, Callable[[dict[str, str]], Response]] = {
            "/0/public/Time": self._time,
            "/0/public/SystemStatus": self._system_status,
            "/0/public/AssetPairs": self._asset_pairs,
            "/0/public/Trades": self._trades,
        }

    def fault_response(self, kind: str) -> Response:
        """Kraken-shaped answers for injected faults: errors in 200 bodies, CDN HTML pages."""
        if kind in FAULT_ERRORS:
            return _errors(FAULT_ERRORS[kind])
        if kind == "429":
            return _errors(TOO_MANY_REQUESTS)
        if kind == "html":
            return Response(502, HTML_ERROR_PAGE, "text/html")
        status = self.settings.fault_5xx_status
        page = CDN_PAGE.format(status=status, phrase=_phrase(status))
        return Response(status, page.encode(), "text/html")

    def handle(self, path: str, params: list[tuple[str, str]], headers: Any) -> Response:
        """Route one GET request."""
        route = self.routes.get(path.rstrip("/"))
        if route is None:
            return _errors("EGeneral:Unknown method", status=404)
        try:
            return route(dict(params))
        except KrakenError as exc:
            return _errors(str(exc))

    # ----- rate limit ------------------------------------------------------------------------
    def _charge(self, counter: str) -> None:
        """One call on a per-IP counter (one per pair, one for the other calls)."""
        s = self.settings
        if not s.rate_limit:
            return
        with self._lock:
            bucket = self._buckets.setdefault(counter, TokenBucket())
        if bucket.take(s.pair_rate_per_second, s.pair_burst):
            with self._lock:
                self.throttled += 1
            raise KrakenError(TOO_MANY_REQUESTS)

    def _pair(self, name: str | None) -> str:
        """Altname of a pair named by altname or canonical name."""
        if not name:
            raise KrakenError(INVALID_ARGUMENTS)
        altname = self._altname.get(name)
        if altname is None:
            raise KrakenError(UNKNOWN_PAIR)
        return altname

    # ----- endpoints -------------------------------------------------------------------------
    def _time(self, params: dict[str, str]) -> Response:
        self._charge("")
        now = self.clock.now()
        return _result(
            {
                "unixtime": int(now.timestamp()),
                "rfc1123": now.strftime("%a, %d %b %y %H:%M:%S +0000"),
            }
        )

    def _system_status(self, params: dict[str, str]) -> Response:
        self._charge("")
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        return _result({"status": self.settings.system_status, "timestamp": stamp})

    def _asset_pairs(self, params: dict[str, str]) -> Response:
        self._charge("")
        if params.get("info", "info") not in ("info", "leverage", "fees", "margin"):
            raise KrakenError(INVALID_ARGUMENTS)
        wanted = params.get("pair")
        if wanted is None:
            return _result(self.asset_pairs)
        chosen = [self.canonical[self._pair(name)] for name in wanted.split(",")]
        return _result({canonical: self.asset_pairs[canonical] for canonical in chosen})

    def _trades(self, params: dict[str, str]) -> Response:
        altname = self._pair(params.get("pair"))
        self._charge(self.canonical[altname])
        count = _uint(params, "count")
        if count is None:
            count = MAX_COUNT
        if not 1 <= count <= MAX_COUNT:
            raise KrakenError(INVALID_ARGUMENTS)
        since = _uint(params, "since")
        if since is not None and since < SECONDS_BELOW:
            since *= 1_000_000_000
        page_rows, last = self.page(self.markets[altname], self.clock.now_us(), since, count)
        canonical = self.canonical[altname]
        body = TRADES_BODY % (
            canonical,
            ",".join(page_rows),
            last,
        )
        return Response(200, body.encode())

    def page(
        self, market: Market, now_us: int, since_ns: int | None, count: int
    ) -> tuple[list[str], int]:
        """Rows of one Trades answer (ascending) and its `last` cursor."""
        newest = market.newest_id(now_us)
        if since_ns is None:
            # The most recent `count` trades.
            recent = pages.trades(market, "kraken", market.first_id, newest, count, True)
            lo = recent.ids[-1] if recent.ids else newest + 1
        else:
            lo = first_id_since(market, since_ns, self.settings.since_exclusive, now_us)
        page_rows: list[str] = []
        times: list[np.ndarray] = []
        for block, i0, i1 in pages.trade_slices(market, lo, newest, count + 1):
            page_rows += rows(market, block, "kraken")[i0:i1]
            times.append(block.time_us[i0:i1])
        time_us = np.concatenate(times) if times else np.zeros(0, np.int64)
        if len(page_rows) > count:
            following = time_us[count]
            page_rows, time_us = page_rows[:count], time_us[:count]
            if self.settings.since_exclusive and following == time_us[-1]:
                # Exclusive paging would never return the rest of this timestamp: end the
                # page before it (unless the page holds nothing else).
                cut = int(np.searchsorted(time_us, following, side="left"))
                if cut:
                    page_rows, time_us = page_rows[:cut], time_us[:cut]
        if page_rows:
            last = int(kraken_time_ns(time_us[-1:])[0])
        else:
            last = since_ns if since_ns is not None else now_us * 1000
        return page_rows, last


def first_id_since(market: Market, since_ns: int, exclusive: bool, now_us: int) -> int:
    """First trade id whose time is at (inclusive) or after `since_ns`.

    Trades of one microsecond share their full nanosecond time, so one comparison decides
    whether the trades of `since`'s microsecond are in.
    """
    t_us = since_ns // 1000
    at_t = int(kraken_time_ns(np.array([t_us], np.int64))[0])
    if at_t < since_ns or (exclusive and at_t == since_ns):
        t_us += 1
    return pages.id_at_or_after(market, t_us, now_us)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # Cloudflare's own 52x codes
        return "Web server is returning an unknown error"
