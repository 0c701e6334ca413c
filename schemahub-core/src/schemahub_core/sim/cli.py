"""`schemahub sim coinbase|binance|kraken --port N`: serve a simulator until interrupted."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import types
from typing import Any

from schemahub_core.sim.clock import CLOCK_MODES
from schemahub_core.sim.settings import NAMES, Settings
from schemahub_core.sim.simulator import EXCHANGES, Simulator

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _type_of(default: Any, name: str) -> type:
    if name in ("weight_limit",):
        return int
    if name in ("latency", "fault_path"):
        return str
    return type(default)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `schemahub sim` options (one flag per simulator setting)."""
    parser.add_argument("exchange", choices=sorted(EXCHANGES), help="which exchange to simulate")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--seed", type=int, default=1, help="market seed (same seed, same trades)")
    parser.add_argument("--clock", choices=CLOCK_MODES, default="realtime", help="market clock")
    parser.add_argument("--speed", type=float, default=1.0, help="accelerated clock: x real time")
    parser.add_argument(
        "--start-time", help="market instant at start, ISO 8601 (default: now, whole second)"
    )
    parser.add_argument(
        "--history-trades", type=int, help="trades of history per liquid product (default 200000)"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    modes = parser.add_argument_group("modes and faults (see schemahub-core/README.md)")
    for name in NAMES:
        field = _FIELDS[name]
        flag = "--" + name.replace("_", "-")
        help_text = field.metadata["help"]
        if isinstance(field.default, bool):
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
            modes.add_argument(
                flag, dest=name, type=_type_of(field.default, name), default=None, help=help_text
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
