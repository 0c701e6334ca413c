"""`schemahub sim coinbase|binance|kraken --port N`: serve a simulator until interrupted."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import types
from typing import Any

from schemahub_core.sim.clock import CLOCK_MODES
from schemahub_core.sim.products import DEFAULT_HISTORY_TRADES
from schemahub_core.sim.settings import NAMES, ONLY, Settings
from schemahub_core.sim.simulator import EXCHANGES, Simulator

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


# What an unset setting means, for the settings whose default is "nothing" (None or "").
_UNSET = {
    "weight_limit": "6000, or 1200 with --binance-us",
    "missing_dumps": "every dump is published",
    "latency": "no added latency",
    "fault_path": "every path",
}
DESCRIPTIONS = {
    "coinbase": "Coinbase Exchange: /products, /products/{id}/trades (newest first, after/before).",
    "binance": "Binance Spot or Binance.US: exchangeInfo, historicalTrades, aggTrades, dumps.",
    "kraken": "Kraken: AssetPairs, Trades (since/last), errors inside HTTP-200 bodies.",
}


def _type_of(default: Any, name: str) -> type:
    if name in ("weight_limit",):
        return int
    if name in ("latency", "fault_path"):
        return str
    return type(default)


def _applies_to(name: str, exchange: str) -> bool:
    """Whether a setting means something to this exchange's simulator."""
    return not any(name in names for other, names in ONLY.items() if other != exchange)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register `schemahub sim EXCHANGE`: one sub-command per exchange, with its own flags."""
    parser.description = "Serve a local copy of an exchange's public API until interrupted."
    exchanges = parser.add_subparsers(dest="exchange", required=True, metavar="EXCHANGE")
    for exchange in sorted(EXCHANGES):
        sub = exchanges.add_parser(
            exchange,
            help=DESCRIPTIONS[exchange],
            description=DESCRIPTIONS[exchange],
            formatter_class=parser.formatter_class,
        )
        _add_exchange_arguments(sub, exchange)


def _add_exchange_arguments(parser: argparse.ArgumentParser, exchange: str) -> None:
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--seed", type=int, default=1, help="market seed (same seed, same trades)")
    parser.add_argument("--clock", choices=CLOCK_MODES, default="realtime", help="market clock")
    parser.add_argument("--speed", type=float, default=1.0, help="accelerated clock: x real time")
    parser.add_argument(
        "--start-time", help="market instant at start, ISO 8601 (default: now, whole second)"
    )
    parser.add_argument(
        "--history-trades",
        type=int,
        help=f"trades of history per liquid product (default: {DEFAULT_HISTORY_TRADES})",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    modes = parser.add_argument_group("modes and faults (see schemahub-core/README.md)")
    for name in NAMES:
        if not _applies_to(name, exchange):
            continue
        field = _FIELDS[name]
        flag = "--" + name.replace("_", "-")
        help_text = field.metadata["help"]
        if isinstance(field.default, bool):
            # A flag only ever switches away from the default, so it states no default.
            if field.default:
                modes.add_argument(
                    "--no-" + name.replace("_", "-"),
                    dest=name,
                    action="store_false",
                    default=None,
                    help="disable: " + help_text,
                )
            else:
                modes.add_argument(
                    flag, dest=name, action="store_true", default=None, help=help_text
                )
        else:
            # argparse's default stays None (only the flags given reach `configure`), so
            # the simulator's own default is written into the help.
            shown = _UNSET.get(name, field.default)
            modes.add_argument(
                flag,
                dest=name,
                type=_type_of(field.default, name),
                default=None,
                help=f"{help_text} (default: {shown})",
            )


def run(args: argparse.Namespace) -> int:
    """Start the simulator and serve until SIGINT/SIGTERM."""
    settings = {n: getattr(args, n) for n in NAMES if getattr(args, n, None) is not None}
    try:
        sim = Simulator(
            args.exchange,
            seed=args.seed,
            port=args.port,
            host=args.host,
            clock=args.clock,
            speed=args.speed,
            start_time=args.start_time,
            history_trades=args.history_trades,
            verbose=args.verbose,
            **settings,
        )
    except (ValueError, TypeError, OSError) as exc:
        print(f"schemahub sim {args.exchange}: cannot start: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: types.FrameType | None) -> None:
        sim.interrupt()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"{args.exchange} simulator listening on {sim.url} (seed {args.seed})", flush=True)
    try:
        sim.serve_forever()
    finally:
        sim.stop()
    return 0
