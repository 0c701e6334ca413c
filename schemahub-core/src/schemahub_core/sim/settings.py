"""Modes and faults of a simulator, switchable per run (CLI flags) and per test (`configure`)."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
from dataclasses import dataclass, field
from typing import Any

# Checked in this order when several faults are armed for the same request.
FAULT_KINDS = ("reset", "truncate", "html", "5xx", "429", "unavailable", "busy", "slow")


def _opt(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass
class Settings:
    """Every switch of a simulator; field names are the keyword names of `configure()`."""

    # --- Coinbase modes
    after_inclusive: bool = _opt(False, "`after=X` returns ids <= X instead of < X")
    retry_after: bool = _opt(False, "Coinbase 429 carries a Retry-After header")
    rate_limit: bool = _opt(True, "enforce the public rate limit (Coinbase bucket, Binance weight)")
    rate_per_second: float = _opt(10.0, "Coinbase bucket refill rate (requests per second)")
    burst: int = _opt(15, "Coinbase bucket capacity (burst size)")
    # --- Binance modes
    binance_us: bool = _opt(False, "1200 weight/min, X-MBX-APIKEY required for historicalTrades")
    weight_limit: int | None = _opt(None, "overrides 6000 (or 1200 for Binance.US)")
    ban_after: int = _opt(3, "requests sent while a 429 is in force before the IP is banned")
    ban_seconds: float = _opt(120.0, "length of a 418 ban")
    restricted: bool = _opt(False, "every API request gets 451 (restricted location)")
    waf: bool = _opt(False, "every API request gets 403 (WAF block)")
    corrupt_checksum: bool = _opt(False, "bulk-dump .CHECKSUM files carry a wrong hash")
    missing_dumps: str = _opt(
        "", "bulk dumps never published, comma-separated dates/months: '2024-12-31,2025-02'"
    )
    # --- Kraken modes
    since_exclusive: bool = _opt(
        False, "Kraken `since=T` returns trades after T only (default: at or after T)"
    )
    pair_rate_per_second: float = _opt(1.0, "Kraken per-pair call counter decay (calls per second)")
    pair_burst: int = _opt(3, "Kraken per-pair call counter maximum (burst size)")
    system_status: str = _opt("online", "Kraken SystemStatus: online, maintenance, cancel_only...")
    # --- Faults: probability per request, or "the next N requests"
    fault_reset: float = _opt(0.0, "probability of this fault per request")
    fault_reset_next: int = _opt(0, "inject this fault into the next N requests")
    fault_truncate: float = _opt(0.0, "probability of this fault per request")
    fault_truncate_next: int = _opt(0, "inject this fault into the next N requests")
    fault_html: float = _opt(0.0, "probability of this fault per request")
    fault_html_next: int = _opt(0, "inject this fault into the next N requests")
    fault_5xx: float = _opt(0.0, "probability of this fault per request")
    fault_5xx_next: int = _opt(0, "inject this fault into the next N requests")
    fault_429: float = _opt(0.0, "probability of this fault per request")
    fault_429_next: int = _opt(0, "inject this fault into the next N requests")
    fault_unavailable: float = _opt(0.0, "Kraken EService:Unavailable: probability per request")
    fault_unavailable_next: int = _opt(0, "inject this fault into the next N requests")
    fault_busy: float = _opt(0.0, "Kraken EService:Busy: probability per request")
    fault_busy_next: int = _opt(0, "inject this fault into the next N requests")
    fault_slow: float = _opt(0.0, "probability of this fault per request")
    fault_slow_next: int = _opt(0, "inject this fault into the next N requests")
    fault_5xx_status: int = _opt(503, "HTTP status of an injected 5xx")
    storm_retry_after: int = _opt(1, "Retry-After of an injected (Binance) 429")
    slow_seconds: float = _opt(2.0, "delay of a `slow` fault")
    latency: str | None = _opt(
        None, "latency of every request: 'uniform:LO_MS:HI_MS' or 'lognormal:MEDIAN_MS:SIGMA'"
    )
    fault_path: str | None = _opt(None, "faults only hit paths starting with this prefix")

    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def reseed(self, seed: int) -> None:
        """Make the fault and latency dice repeat for the same `seed`."""
        with self._lock:
            self._rng.seed(seed)

    def apply(self, exchange: str, changes: dict[str, Any]) -> None:
        """Validate then apply `changes` for `exchange`'s simulator (all or nothing)."""
        unknown = sorted(set(changes) - set(NAMES))
        if unknown:
            raise TypeError(f"unknown simulator setting(s) {unknown}; valid: {', '.join(NAMES)}")
        foreign = frozenset().union(*(names for name, names in ONLY.items() if name != exchange))
        wrong = sorted(set(changes) & foreign)
        if wrong:
            raise ValueError(f"setting(s) {wrong} do not apply to the {exchange} simulator")
        if changes.get("latency"):
            parse_latency(changes["latency"])
        for name, value in changes.items():
            is_probability = name.startswith("fault_") and not name.endswith(
                ("_next", "_status", "_path")
            )
            if is_probability and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} is a probability between 0 and 1, got {value}")
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, value)

    def draw_fault(self, path: str) -> str | None:
        """Pick the fault (if any) for one request: armed "next N" counters first, then dice."""
        if self.fault_path and not path.startswith(self.fault_path):
            return None
        with self._lock:
            for kind in FAULT_KINDS:
                name = f"fault_{kind}_next"
                if getattr(self, name) > 0:
                    setattr(self, name, getattr(self, name) - 1)
                    return kind
            for kind in FAULT_KINDS:
                p = getattr(self, f"fault_{kind}")
                if p and self._rng.random() < p:
                    return kind
        return None

    def draw_latency(self) -> float:
        """Seconds of latency to add to one request (0 when no distribution is set)."""
        if not self.latency:
            return 0.0
        dist, a, b = parse_latency(self.latency)
        with self._lock:
            if dist == "uniform":
                ms = self._rng.uniform(a, b)
            else:
                ms = a * math.exp(b * self._rng.gauss(0.0, 1.0))
        return ms / 1000.0


COINBASE_ONLY = frozenset({"after_inclusive", "retry_after", "rate_per_second", "burst"})
BINANCE_ONLY = frozenset(
    {"binance_us", "weight_limit", "ban_after", "ban_seconds", "restricted", "waf"}
    | {"corrupt_checksum", "missing_dumps", "storm_retry_after"}
)
KRAKEN_ONLY = frozenset(
    {"since_exclusive", "pair_rate_per_second", "pair_burst", "system_status"}
    | {"fault_unavailable", "fault_unavailable_next", "fault_busy", "fault_busy_next"}
)
ONLY = {"coinbase": COINBASE_ONLY, "binance": BINANCE_ONLY, "kraken": KRAKEN_ONLY}
NAMES = tuple(f.name for f in dataclasses.fields(Settings) if not f.name.startswith("_"))


def parse_latency(spec: str) -> tuple[str, float, float]:
    """Validate a latency spec and return (distribution, a, b)."""
    parts = spec.split(":")
    if len(parts) != 3 or parts[0] not in ("uniform", "lognormal"):
        raise ValueError(
            f"latency {spec!r} not understood: use 'uniform:LO_MS:HI_MS' "
            "or 'lognormal:MEDIAN_MS:SIGMA'"
        )
    a, b = float(parts[1]), float(parts[2])
    if a < 0 or b < 0 or (parts[0] == "uniform" and b < a):
        raise ValueError(f"latency {spec!r}: bounds must be >= 0 and LO <= HI")
    return parts[0], a, b
