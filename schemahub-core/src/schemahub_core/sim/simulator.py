"""`start_simulator`: a running simulator with its URL, oracle, settings and counters."""

from __future__ import annotations

import atexit
import importlib
import threading
from datetime import datetime
from typing import Any

from schemahub_core.sim.clock import SimClock, to_epoch_us
from schemahub_core.sim.oracle import Oracle
from schemahub_core.sim.server import SimServer, Stats, serve_in_thread
from schemahub_core.sim.settings import Settings

EXCHANGES = {
    "coinbase": "schemahub_core.sim.coinbase:CoinbaseApp",
    "binance": "schemahub_core.sim.binance:BinanceApp",
    "kraken": "schemahub_core.sim.kraken:KrakenApp",
}


class Simulator:
    """A simulated exchange served over HTTP on loopback; use `start_simulator()`."""

    def __init__(
        self,
        exchange: str,
        *,
        seed: int = 1,
        port: int = 0,
        host: str = "127.0.0.1",
        clock: str = "frozen",
        speed: float = 1.0,
        start_time: datetime | str | int | None = None,
        history_trades: int | None = None,
        verbose: bool = False,
        **settings: Any,
    ) -> None:
        """Build the exchange app and bind its port; serving starts with `start()`.

        See `start_simulator` for the options; unknown exchanges and settings raise.
        """
        if exchange not in EXCHANGES:
            raise ValueError(f"unknown exchange {exchange!r}; simulators: {', '.join(EXCHANGES)}")
        self.exchange = exchange
        self.seed = seed
        start_us = None if start_time is None else to_epoch_us(start_time)
        self.clock = SimClock(clock, start_us, speed)
        self.settings = Settings()
        self.settings.reseed(seed)
        self.settings.apply(exchange, settings)
        module_name, class_name = EXCHANGES[exchange].split(":")
        app_class = getattr(importlib.import_module(module_name), class_name)
        self.stats = Stats()
        self.app = app_class(seed, self.clock, self.settings, history_trades, self.stats)
        self.oracle = Oracle(exchange, self.app.markets, self.clock, self.app.metadata)
        self._server = SimServer((host, port), self.app, self.settings, self.stats)
        self._server.verbose = verbose
        address = self._server.server_address
        self.host, self.port = str(address[0]), int(address[1])
        self.url = f"http://{self.host}:{self.port}"
        self.bulk_url = self.url  # Binance bulk dumps: the same server serves /data/spot/...
        self._thread: threading.Thread | None = None

    def start(self) -> Simulator:
        """Start serving in a background thread."""
        if self._thread is None:
            self._thread = serve_in_thread(self._server)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop()` (used by the CLI)."""
        self._server.serve_forever()

    def interrupt(self) -> None:
        """Make `serve_forever()` return soon; safe to call from a signal handler."""
        threading.Thread(target=self._server.shutdown, daemon=True).start()

    def configure(self, **changes: Any) -> None:
        """Switch modes and faults at runtime (names as in `Settings`); unknown names raise."""
        self.settings.apply(self.exchange, changes)

    def advance(self, seconds: float) -> None:
        """Move the market clock forward: the trades of those seconds become visible."""
        self.clock.advance(seconds)

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Simulator:
        """Start serving; leaving the `with` block stops the simulator."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop serving, also when the block raised."""
        self.stop()

    def __repr__(self) -> str:
        """Exchange, URL, seed and clock mode: what a failing test needs to reproduce a run."""
        return f"<Simulator {self.exchange} {self.url} seed={self.seed} clock={self.clock.mode}>"


def start_simulator(exchange: str, **options: Any) -> Simulator:
    """Start a simulator (`coinbase`, `binance` or `kraken`) on loopback; return it running.

    Options: `seed`, `port` (0 = a free port), `clock` (`frozen`, `realtime`, `accelerated`),
    `speed`, `start_time`, `history_trades`, plus any `Settings` field (modes and faults).
    The simulator is stopped at interpreter exit if nobody stops it before, so it can be
    started at import time (e.g. for singer-sdk's `get_tap_test_class`).
    """
    sim = Simulator(exchange, **options).start()
    atexit.register(sim.stop)
    return sim
