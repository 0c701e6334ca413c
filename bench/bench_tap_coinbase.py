"""tap-coinbase throughput against the Coinbase simulator on loopback.

1. throttled: the real public limit (10 req/s, burst 15) and 100-300 ms latency; trades/s
   over a window after warm-up, as a share of the ceiling 10 x page_size per second, and
   the number of 429 answers.
2. unthrottled: no limit, no latency; RECORD lines/s the tap writes, with singer-sdk's own
   record path measured in the same run as the baseline.

The tap runs as a real subprocess (`tap-coinbase --config ... --state ...`) writing to a
pipe that this script reads and timestamps. Usage:

    .venv/bin/python bench/bench_tap_coinbase.py [--window 60] [--warmup 10]
        [--only throttled|unthrottled]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from schemahub_core.sim import start_simulator
from schemahub_core.sim.simulator import Simulator

PRODUCT = "BTC-USD"
PAGE_SIZE = 1000
# Runs the tap's own CLI, optionally with singer-sdk's per-record path forced (the baseline).
LAUNCHER = (
    "import sys; from tap_coinbase.streams import TradesStream; "
    "TradesStream.allow_fast_emission = sys.argv.pop(1) == 'fast'; "
    "from tap_coinbase.tap import TapCoinbase; TapCoinbase.cli()"
)


def state_for(watermark: int) -> dict:
    """Singer state with one BTC-USD watermark."""
    partition = {
        "context": {"product_id": PRODUCT},
        "replication_key": "trade_id",
        "replication_key_value": watermark,
    }
    return {"bookmarks": {"coinbase_trades": {"partitions": [partition]}}}


def run_tap(config: dict, watermark: int, mode: str, stop_after: float | None) -> list[float]:
    """Run the tap; return the arrival time of every trade RECORD line (monotonic seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "config.json").write_text(json.dumps(config))
        Path(tmp, "state.json").write_text(json.dumps(state_for(watermark)))
        command = [sys.executable, "-c", LAUNCHER, mode]
        command += ["--config", "config.json", "--state", "state.json"]
        tap = subprocess.Popen(
            command,
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=1 << 20,
        )
        arrivals: list[float] = []
        started = time.monotonic()
        marker = b'"stream":"coinbase_trades"'
        assert tap.stdout is not None
        for line in tap.stdout:
            if marker in line[:60] and line.startswith(b'{"type":"RECORD"'):
                arrivals.append(time.monotonic())
                if stop_after is not None and arrivals[-1] - started > stop_after:
                    break
        tap.kill()
        tap.wait()
    return arrivals


def rate_between(arrivals: list[float], start: float, end: float) -> float:
    """Records per second that arrived in [start, end)."""
    count = sum(1 for t in arrivals if start <= t < end)
    return count / (end - start)


def tap_config(sim: Simulator, *, max_requests_per_second: float, concurrency: int) -> dict:
    """tap-coinbase's config for one product of the simulator, in pages of PAGE_SIZE."""
    return {
        "api_url": sim.url,
        "product_ids": [PRODUCT],
        "max_requests_per_second": max_requests_per_second,
        "concurrency": concurrency,
        "page_size": PAGE_SIZE,
    }


def throttled(window: float, warmup: float) -> dict:
    """Real limit and latency: trades/s after warm-up as a share of 10 x page_size."""
    trades_needed = int((window + warmup + 20) * 10 * PAGE_SIZE)
    sim = start_simulator(
        "coinbase",
        seed=5,
        history_trades=trades_needed + 50_000,
        rate_limit=True,
        rate_per_second=10,
        burst=15,
        latency="uniform:100:300",
    )
    try:
        config = tap_config(sim, max_requests_per_second=10, concurrency=8)
        watermark = sim.oracle.newest_id(PRODUCT) - trades_needed
        arrivals = run_tap(config, watermark, "fast", stop_after=warmup + window + 2)
        first = arrivals[0]
        rate = rate_between(arrivals, first + warmup, first + warmup + window)
        ceiling = 10 * PAGE_SIZE
        return {
            "trades_per_s": round(rate, 1),
            "ceiling_per_s": ceiling,
            "share_of_ceiling": round(rate / ceiling, 4),
            "responses_429": sim.stats.responses_429,
            "window_s": window,
            "warmup_s": warmup,
        }
    finally:
        sim.stop()


def unthrottled(fast_trades: int, sdk_trades: int) -> dict:
    """No limit, no latency: RECORD lines/s of the fast path and of singer-sdk's path."""
    sim = start_simulator("coinbase", seed=6, history_trades=fast_trades + 50_000, rate_limit=False)
    try:
        config = tap_config(sim, max_requests_per_second=100_000, concurrency=4)
        newest = sim.oracle.newest_id(PRODUCT)
        result = {}
        for mode, trades in (("sdk", sdk_trades), ("fast", fast_trades)):
            arrivals = run_tap(config, newest - trades, mode, stop_after=None)
            span = arrivals[-1] - arrivals[0]
            result[f"{mode}_records"] = len(arrivals)
            result[f"{mode}_records_per_s"] = round((len(arrivals) - 1) / span, 0)
        result["speedup"] = round(result["fast_records_per_s"] / result["sdk_records_per_s"], 2)
        return result
    finally:
        sim.stop()


def main() -> int:
    """Run the selected benchmarks and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="measured seconds (throttled)")
    parser.add_argument("--warmup", type=float, default=10.0, help="ignored first seconds")
    parser.add_argument("--fast-trades", type=int, default=400_000)
    parser.add_argument("--sdk-trades", type=int, default=150_000)
    parser.add_argument("--only", choices=["throttled", "unthrottled"])
    args = parser.parse_args()
    report: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
    }
    if args.only in (None, "unthrottled"):
        report["unthrottled"] = unthrottled(args.fast_trades, args.sdk_trades)
    if args.only in (None, "throttled"):
        report["throttled"] = throttled(args.window, args.warmup)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
