"""Binance's request-weight limiter: per-minute weight, 429 + Retry-After, then 418 bans."""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass

from schemahub_core.sim.server import Response, Stats
from schemahub_core.sim.settings import Settings

WEIGHT_LIMIT = 6000
WEIGHT_LIMIT_US = 1200


def too_much_weight(limit: int) -> bytes:
    """The -1003 body of a 429."""
    msg = (
        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API."
    )
    return json.dumps({"code": -1003, "msg": msg}, separators=(",", ":")).encode()


@dataclass
class Verdict:
    """Outcome of charging one request: the weight used this minute and a refusal, if any."""

    used: int
    refusal: Response | None


class WeightLimiter:
    """Charges request weight to the current wall-clock minute, like Binance's REQUEST_WEIGHT.

    Over the limit the request gets 429 with Retry-After (seconds to the next minute). Each
    further request before that instant is a strike; `ban_after` strikes ban the IP for
    `ban_seconds`: every request then gets 418 with Retry-After until the ban ends.
    """

    def __init__(self, settings: Settings, stats: Stats | None = None) -> None:
        """Start with no weight used and no ban; limits are read from `settings` on each request."""
        self.settings = settings
        self.stats = stats
        self._lock = threading.Lock()
        self._minute = -1
        self._used = 0
        self._limited_until = 0.0
        self._strikes = 0
        self.banned_until = 0.0

    def limit(self) -> int:
        """Weight allowed per minute in the current mode."""
        s = self.settings
        if s.weight_limit is not None:
            return s.weight_limit
        return WEIGHT_LIMIT_US if s.binance_us else WEIGHT_LIMIT

    def charge(self, weight: int) -> Verdict:
        """Account one request of `weight` and decide whether it is refused."""
        now = time.time()
        with self._lock:
            minute = int(now // 60)
            if minute != self._minute:
                self._minute, self._used = minute, 0
            if not self.settings.rate_limit:
                self._used += weight
                return self._verdict(self._used, None)
            if self.banned_until > now:
                return self._verdict(self._used, self._banned(now))
            if self._limited_until > now:
                self._strikes += 1
                if self._strikes >= self.settings.ban_after:
                    self.banned_until = now + self.settings.ban_seconds
                    self._limited_until, self._strikes = 0.0, 0
                    return self._verdict(self._used, self._banned(now))
                return self._verdict(self._used, self._too_much(now))
            self._used += weight
            if self._used > self.limit():
                self._limited_until = (minute + 1) * 60.0
                self._strikes = 0
                return self._verdict(self._used, self._too_much(now))
            return self._verdict(self._used, None)

    def _verdict(self, used: int, refusal: Response | None) -> Verdict:
        if self.stats is not None:
            self.stats.add_weight(self._minute, used)
        return Verdict(used, refusal)

    def _too_much(self, now: float) -> Response:
        retry = max(1, math.ceil(self._limited_until - now))
        return Response(429, too_much_weight(self.limit()), headers={"Retry-After": str(retry)})

    def _banned(self, now: float) -> Response:
        until_ms = int(self.banned_until * 1000)
        msg = (
            f"Way too much request weight used; IP banned until {until_ms}. "
            "Please use WebSocket Streams for live updates to avoid bans."
        )
        body = json.dumps({"code": -1003, "msg": msg}, separators=(",", ":")).encode()
        retry = max(1, math.ceil(self.banned_until - now))
        return Response(418, body, headers={"Retry-After": str(retry)})
