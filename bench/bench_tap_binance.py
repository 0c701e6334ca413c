"""tap-binance benchmarks against the local Binance simulator (loopback only).

rest: the tap pulls historicalTrades at the real budget (6000 weight/min x 0.9) for at least
      two whole server minutes; reports weight used per whole minute as a share of the
      budget (goal >= 95 %) and the number of 429 answers (goal 0).
bulk: one local daily dump file (~1.7M trades): records/s of the columnar fast path (read,
      verify, render, write to /dev/null; goal >= 150k/s) and, in the same run, of
      singer-sdk's per-record path on the same rows; then the whole tap process backfilling
      that day from the simulator.

Usage: .venv/bin/python bench/bench_tap_binance.py [rest|bulk|all]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import redirect_stdout
from datetime import date
from pathlib import Path

from schemahub_core.sim import start_simulator
from tap_binance.bulk import DumpPeriod, read_dump
from tap_binance.fastpath import render_record_lines
from tap_binance.tap import TapBinance

LIMIT, FRACTION = 6000, 0.9
DUMP_DAY = "2026-01-14"
DUMP_NEXT_DAY = "2026-01-15"
SDK_ROWS = 200_000


def run_tap(config: dict, workdir: Path, name: str, *, stop_after: float | None = None) -> float:
    """Run the tap as a process (stdout to /dev/null); return its wall time in seconds."""
    config_file = workdir / f"{name}.json"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_binance.tap", "--config", str(config_file)]
    started = time.monotonic()
    with open(workdir / f"{name}.log", "w") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        try:
            process.wait(timeout=stop_after)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait()
    if stop_after is None and process.returncode != 0:
        raise SystemExit(f"{name}: tap failed, see {workdir / (name + '.log')}")
    return time.monotonic() - started


def bench_rest(workdir: Path) -> None:
    """Weight used per whole minute at the real budget, and 429s."""
    sim = start_simulator("binance", seed=21, clock="frozen", history_trades=1_500_000)
    budget = int(LIMIT * FRACTION)
    config = {
        "api_url": sim.url,
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "start_date": "2000-01-01T00:00:00Z",  # all 1.5M trades of each: more than 3 minutes
        "backfill_source": "rest",
        "weight_limit_per_minute": LIMIT,
        "weight_budget_fraction": FRACTION,
    }
    # Run until three minute boundaries have passed: at least two whole server minutes.
    now = time.time()
    stop_after = (int(now // 60) + 3) * 60 - now + 1
    run_tap(config, workdir, "rest", stop_after=stop_after)
    stats = sim.stats.snapshot()
    sim.stop()
    minutes = sorted(stats["weight_per_minute"].items())
    whole = minutes[1:-1]  # the first and last minutes were only partly in the run
    print("REST at the real budget: limit", LIMIT, "x", FRACTION, "=", budget, "weight/min")
    for minute, used in minutes:
        tag = "whole" if (minute, used) in whole else "partial"
        stamp = time.strftime("%H:%M", time.gmtime(minute * 60))
        print(
            f"  minute {stamp} UTC ({tag}): {used} weight = {100 * used / budget:.1f} % of budget"
        )
    shares = [used / budget for _, used in whole]
    print(
        f"  whole minutes: {len(whole)}, mean {100 * sum(shares) / len(shares):.1f} %, "
        f"min {100 * min(shares):.1f} %"
    )
    print(
        f"  429 answers: {stats['status'].get(429, 0)}, 418 answers: {stats['status'].get(418, 0)}"
    )


def bench_bulk(workdir: Path) -> None:
    """Records/s from one day of dumps: fast path vs singer-sdk's per-record path."""
    sim = start_simulator(
        "binance", seed=22, clock="frozen", start_time=f"{DUMP_NEXT_DAY}T00:00:01Z",
        history_trades=2_000_000,
    )  # fmt: skip
    zip_path = workdir / f"BTCUSDT-trades-{DUMP_DAY}.zip"
    zip_url = f"{sim.bulk_url}/data/spot/daily/trades/BTCUSDT/{zip_path.name}"
    with urllib.request.urlopen(zip_url) as response:
        zip_path.write_bytes(response.read())
    period = DumpPeriod("daily", date.fromisoformat(DUMP_DAY), date.fromisoformat(DUMP_DAY))
    config = {
        "api_url": sim.url,
        "bulk_url": sim.bulk_url,
        "symbols": ["BTCUSDT"],
        "start_date": f"{DUMP_DAY}T00:00:00Z",
        "backfill_source": "bulk",
    }
    stream = TapBinance(config=config, parse_env_config=False).streams["binance_trades"]
    constants = {"symbol": "BTCUSDT", "base_asset": "BTC", "quote_asset": "USDT"}
    constants["exchange"] = "BINANCE"
    print(
        f"Bulk: one daily dump of BTCUSDT ({zip_path.stat().st_size / 1e6:.1f} MB zip), "
        "messages written to /dev/null, best of 3"
    )
    with open(os.devnull, "w") as devnull, redirect_stdout(devnull):
        fast_rates, sdk_rates = [], []
        for _ in range(3):
            started, count = time.perf_counter(), 0
            for batch in read_dump(zip_path, period):
                devnull.write(render_record_lines(batch, stream.name, constants, "now"))
                count += batch.num_rows
            fast_rates.append(count / (time.perf_counter() - started))
            # singer-sdk's own per-record path (type conformance, stream map, JSON, write)
            # on the first SDK_ROWS rows of the same file.
            started, done = time.perf_counter(), 0
            for batch in read_dump(zip_path, period):
                for row in batch.to_pylist():
                    # The baseline: the SDK's own per-record writer (a bench, not plugin code).
                    stream._write_record_message({**row, **constants})  # noqa: SLF001
                done += batch.num_rows
                if done >= SDK_ROWS:
                    break
            sdk_rates.append(done / (time.perf_counter() - started))
    print(
        f"  fast path (read + verify + render + write): {max(fast_rates) / 1e3:7.1f}k records/s"
        f" ({count} records)"
    )
    print(
        f"  singer-sdk per-record path:                 {max(sdk_rates) / 1e3:7.1f}k records/s"
        f" ({done} records)"
    )
    print(f"  speedup: {max(fast_rates) / max(sdk_rates):.1f}x")
    elapsed = run_tap(config, workdir, "bulk-tap")
    sim.stop()
    print(
        f"  whole tap process (start-up, exchangeInfo, download over loopback, SHA-256, "
        f"the day's {count} records + a few over REST): {elapsed:.1f} s = "
        f"{count / elapsed / 1e3:.1f}k records/s"
    )


def main() -> None:
    """Run the benchmarks named on the command line (default: all)."""
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    with tempfile.TemporaryDirectory(prefix="bench-tap-binance-") as folder:
        if which in ("bulk", "all"):
            bench_bulk(Path(folder))
        if which in ("rest", "all"):
            bench_rest(Path(folder))


if __name__ == "__main__":
    main()
