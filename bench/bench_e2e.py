"""End-to-end throughput through Meltano: unthrottled simulator -> tap -> target -> Parquet.

Measures, per exchange, the wall time of one `meltano run <tap> target-s3-parquet` that
backfills a fixed number of trades from a simulator with no rate limit and no latency, and
reports committed trades per second (the count read back from the unified table, checked
against the simulator's oracle). Then the same pipeline once more with no new trades: the
time of an incremental run with nothing to do (Meltano, tap and target start-up included).

    .venv/bin/python bench/bench_e2e.py [--trades 200000]

The Meltano project is a copy of meltano.yml under bench/work/e2e (plugins installed once).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

from schemahub_core.check import check_unified_table
from schemahub_core.sim import start_simulator

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "e2e"
MELTANO = os.environ.get("MELTANO") or str(ROOT / ".venv-meltano" / "bin" / "meltano")
LINKED = ("schemahub-core", "tap-coinbase", "tap-binance", "target-s3-parquet", "mappings")
CASES = {  # exchange -> (tap, product, tap settings lifting every client-side limit)
    "coinbase": (
        "tap-coinbase",
        "BTC-USD",
        {
            "TAP_COINBASE_PRODUCT_IDS": '["BTC-USD"]',
            "TAP_COINBASE_MAX_REQUESTS_PER_SECOND": "10000",
        },
    ),
    "binance": (
        "tap-binance",
        "BTCUSDT",
        {
            "TAP_BINANCE_SYMBOLS": '["BTCUSDT"]',
            "TAP_BINANCE_BACKFILL_SOURCE": "rest",
            "TAP_BINANCE_WEIGHT_LIMIT_PER_MINUTE": "100000000",
            "TAP_BINANCE_CONCURRENCY": "8",
        },
    ),
}


def prepare_project() -> Path:
    """Create (once) and install the benchmark's Meltano project."""
    WORK.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = WORK / name
        if not link.exists():
            link.symlink_to(ROOT / name, target_is_directory=True)
    (WORK / "meltano.yml").write_text((ROOT / "meltano.yml").read_text())
    subprocess.run([MELTANO, "install"], cwd=WORK, check=True, capture_output=True)
    return WORK


def meltano_run(env: dict[str, str], tap: str, label: str) -> float:
    """Run one tap -> target-s3-parquet pipeline; return its wall time in seconds.

    Its log is kept as bench/work/e2e/<tap>-<label>.log.
    """
    started = time.perf_counter()
    result = subprocess.run(
        [MELTANO, "run", tap, "target-s3-parquet"],
        cwd=WORK,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    (WORK / f"{tap}-{label}.log").write_text(result.stderr)
    if result.returncode != 0:
        sys.exit(f"meltano run {tap} failed:\n{result.stderr[-4000:]}")
    return elapsed


def first_trade_time(value: str | int) -> str:
    """ISO 8601 start_date of a trade time (Coinbase RFC 3339 string, Binance epoch us)."""
    if isinstance(value, str):
        return value
    return dt.datetime.fromtimestamp(value / 1e6, tz=dt.UTC).isoformat()


def bench_exchange(exchange: str, trades: int) -> dict[str, float]:
    """Backfill `trades` trades of one product, then an incremental run with nothing new."""
    tap, product, settings = CASES[exchange]
    out = WORK / f"output-{exchange}"
    subprocess.run(["rm", "-rf", str(out), str(WORK / f"{exchange}.db")], check=True)
    sim = start_simulator(
        exchange, seed=3, port=0, clock="frozen", rate_limit=False, history_trades=trades + 1000
    )
    try:
        newest = sim.oracle.newest_id(product)
        first = newest - trades + 1
        start_iso = first_trade_time(sim.oracle.trades(product, first, first)[0]["time"])
        prefix = tap.upper().replace("-", "_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_"))}
        env.update(
            settings,
            **{f"{prefix}_API_URL": sim.url, f"{prefix}_START_DATE": start_iso},
            TARGET_S3_PARQUET_OUTPUT_URI=str(out),
            MELTANO_DATABASE_URI=f"sqlite:///{WORK / f'{exchange}.db'}",
        )
        if exchange == "binance":
            env["TAP_BINANCE_BULK_URL"] = sim.bulk_url
        backfill = meltano_run(env, tap, "backfill")
        report = check_unified_table(str(out))
        rows = sum(s.rows for s in report.symbols)
        # Trades sharing the first trade's timestamp are in the window too: ask the oracle.
        expected = newest - sim.oracle.id_at_or_after(product, start_iso) + 1
        assert report.ok, report.problems
        assert rows == expected, (rows, expected)
        idle = meltano_run(env, tap, "idle")
    finally:
        sim.stop()
    return {"trades": rows, "backfill_s": backfill, "rate": rows / backfill, "idle_s": idle}


def main() -> int:
    """Run both exchanges and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=200_000)
    args = parser.parse_args()
    prepare_project()
    print("| exchange | trades | backfill run (wall) | trades/s end to end | no-new-data run |")
    print("|---|---|---|---|---|")
    for exchange in CASES:
        r = bench_exchange(exchange, args.trades)
        print(
            f"| {exchange} | {r['trades']:,} | {r['backfill_s']:.1f} s | {r['rate']:,.0f}"
            f" | {r['idle_s']:.1f} s |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
