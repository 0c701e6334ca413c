"""tap-kraken throughput against the Kraken simulator on loopback.

1. throttled: Kraken's per-pair call counter (1 call/s, burst 3) and 50-150 ms latency, four
   pairs read at once with max_requests_per_second=1: Trades calls per second per pair over
   a window after warm-up, as a share of the configured rate, and the number of
   `EGeneral:Too many requests` answers (goal: >= 95 %, none).
2. unthrottled: no limit, no latency, `--pairs` pairs (default 1): RECORD lines/s the tap
   writes (goal >= 50k/s).

The tap runs as a real subprocess (`tap-kraken --config ...`) writing to a pipe that this
script reads and timestamps. Usage:

    .venv/bin/python bench/bench_tap_kraken.py [--window 60] [--warmup 10]
        [--trades 1000000] [--pairs 1] [--only throttled|unthrottled]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemahub_core.sim import start_simulator
from schemahub_core.sim.simulator import Simulator

PAIRS = ["XBTUSD", "ETHUSD", "SOLUSD", "XDGUSD"]
TRADES_PATH = "/0/public/Trades"


def run_tap(config: dict) -> list[float]:
    """Run the tap to the end; return the arrival time of every trade RECORD line."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "config.json").write_text(json.dumps(config))
        command = [sys.executable, "-m", "tap_kraken.tap", "--config", "config.json"]
        tap = subprocess.Popen(
            command, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=1 << 20
        )
        arrivals: list[float] = []
        marker = b'"stream":"kraken_trades"'
        assert tap.stdout is not None
        for line in tap.stdout:
            if marker in line[:60] and line.startswith(b'{"type":"RECORD"'):
                arrivals.append(time.monotonic())
        tap.wait()
    return arrivals


def tap_config(sim: Simulator, pairs: list[str], rate: float) -> dict:
    """tap-kraken's config reading `pairs` from the start of the simulator's history."""
    start = sim.clock.now() - timedelta(days=400)
    return {
        "api_url": sim.url,
        "pairs": pairs,
        "max_requests_per_second": rate,
        "start_date": start.isoformat(),
    }


def throttled(window: float, warmup: float) -> dict:
    """Per-pair call rate over `window` after `warmup`, as a share of 1 call/s per pair."""
    pages = int(window + warmup + 30)
    sim = start_simulator(
        "kraken",
        seed=5,
        history_trades=pages * 1400,  # ids; a quarter never exist: ~1000 trades a page
        pair_rate_per_second=1.0,
        pair_burst=3,
        latency="uniform:50:150",
    )
    try:
        samples: dict[str, int] = {}

        def sample() -> None:
            time.sleep(warmup)
            samples["start"] = sim.stats.paths[TRADES_PATH]
            time.sleep(window)
            samples["end"] = sim.stats.paths[TRADES_PATH]

        sampler = threading.Thread(target=sample)
        started = time.monotonic()
        sampler.start()
        arrivals = run_tap(tap_config(sim, PAIRS, 1.0))
        sampler.join()
        finished = time.monotonic() - started
        assert finished > warmup + window, "the backlog ran out before the window ended"
        calls_per_pair_s = (samples["end"] - samples["start"]) / window / len(PAIRS)
        return {
            "pairs": len(PAIRS),
            "configured_calls_per_pair_s": 1.0,
            "calls_per_pair_s": round(calls_per_pair_s, 3),
            "share_of_configured_rate": round(calls_per_pair_s / 1.0, 4),
            "too_many_requests": sim.app.throttled,
            "trades": len(arrivals),
            "run_s": round(finished, 1),
            "window_s": window,
            "warmup_s": warmup,
        }
    finally:
        sim.stop()


def unthrottled(trades: int, pairs: int) -> dict:
    """No limit, no latency: RECORD lines/s of a backfill of `pairs` pairs read at once."""
    depth = int(trades / 0.75 / pairs)  # ids per pair; a quarter never exist
    sim = start_simulator("kraken", seed=6, history_trades=depth, rate_limit=False)
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        own_before = resource.getrusage(resource.RUSAGE_SELF)
        arrivals = run_tap(tap_config(sim, PAIRS[:pairs], 100_000))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        own_after = resource.getrusage(resource.RUSAGE_SELF)
        # This process: the simulator serving every page, plus reading the tap's lines.
        own = (own_after.ru_utime - own_before.ru_utime) + (
            own_after.ru_stime - own_before.ru_stime
        )
        span = arrivals[-1] - arrivals[0]
        # The tap's own CPU time: records per CPU-second do not depend on how busy the host is.
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {
            "pairs": pairs,
            "records": len(arrivals),
            "records_per_s": round((len(arrivals) - 1) / span, 0),
            "tap_cpu_s": round(cpu, 1),
            "records_per_tap_cpu_s": round(len(arrivals) / cpu, 0),
            "simulator_and_reader_cpu_s": round(own, 1),
        }
    finally:
        sim.stop()


def main() -> int:
    """Run the selected benchmarks and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="measured seconds (throttled)")
    parser.add_argument("--warmup", type=float, default=10.0, help="ignored first seconds")
    parser.add_argument("--trades", type=int, default=1_000_000, help="unthrottled backfill")
    parser.add_argument("--pairs", type=int, default=1, help="pairs read at once (unthrottled)")
    parser.add_argument("--only", choices=["throttled", "unthrottled"])
    args = parser.parse_args()
    result: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
    }
    if args.only in (None, "throttled"):
        result["throttled"] = throttled(args.window, args.warmup)
    if args.only in (None, "unthrottled"):
        result["unthrottled"] = unthrottled(args.trades, args.pairs)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
