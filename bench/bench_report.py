"""Benchmark `schemahub report` (and `schemahub check`) on a 10M-row unified table.

Builds the table once per table format under bench/work/report-10m/ (Hive layout) and
bench/work/report-10m-iceberg/ (Iceberg, SQLite catalog) with target-s3-parquet's own commit
path (UnifiedTableWriter / IcebergUnifiedTable on a local folder, so commit records and
snapshots exist as after real ingests):
4 symbols x 2.5M trades over 10 days, committed in batches of 250k, with one id in 1,000
dropped (gaps to find). Then times the whole report (DuckDB aggregation, file listings,
plotly page) and the check, --repeat times each, and prints every run and the median.

    .venv/bin/python bench/bench_report.py                     # both formats
    .venv/bin/python bench/bench_report.py --format iceberg    # one of them
    .venv/bin/python bench/bench_report.py --rebuild           # regenerate the tables
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
from schemahub_core.check import check_unified_table
from schemahub_core.query import connect, run_query
from schemahub_core.report import write_report
from schemahub_core.report.aggregates import ReportFilter, aggregate_trades, create_report_view
from schemahub_core.schema import UNIFIED_SCHEMA
from target_s3_parquet.iceberg_table import IcebergUnifiedTable
from target_s3_parquet.storage import LocalStorage
from target_s3_parquet.unified import UnifiedTableWriter

WORK = Path(__file__).resolve().parent / "work"
TABLES = {"hive": WORK / "report-10m", "iceberg": WORK / "report-10m-iceberg"}
SYMBOLS = [("COINBASE", "BTC-USD"), ("COINBASE", "ETH-USD"), ("BINANCE", "BTCUSDT")]
SYMBOLS += [("BINANCE", "ETHUSDT")]
ROWS_PER_SYMBOL = 2_500_000
BATCH = 250_000
DAYS = 10
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def trades(exchange: str, symbol: str, first_id: int, count: int) -> pa.Table:
    """Trades first_id.. spread evenly over DAYS, every 1000th id dropped (a gap)."""
    ids = np.arange(first_id, first_id + count)
    ids = ids[ids % 1000 != 500]
    step_us = DAYS * 86_400_000_000 // ROWS_PER_SYMBOL
    micros = int(START.timestamp() * 1_000_000) + ids * step_us
    rng = np.random.default_rng(first_id)
    n = ids.size
    columns = {
        "exchange": pa.array([exchange] * n),
        "symbol": pa.array([symbol] * n),
        "base_asset": pa.array([symbol[:3]] * n),
        "quote_asset": pa.array([symbol[3:].strip("-")] * n),
        "trade_id": pa.array(ids.astype(str)),
        "side": pa.array(np.where(ids % 2 == 0, "BUY", "SELL")),
        "price": pa.array(60_000 + np.cumsum(rng.normal(0, 5, n))),
        "quantity": pa.array(rng.exponential(0.05, n)),
        "trade_ts": pa.array(micros, pa.timestamp("us", tz="UTC")),
        "ingest_ts": pa.array(np.full(n, micros[-1] + 90_000_000), pa.timestamp("us", tz="UTC")),
    }
    return pa.table(columns, schema=UNIFIED_SCHEMA)


def build(table_format: str, root: Path) -> None:
    """Commit the table through the target's writer of ``table_format``, batch by batch."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    writer: UnifiedTableWriter | IcebergUnifiedTable = (
        IcebergUnifiedTable.open({"output_uri": str(root)}, compression="zstd")
        if table_format == "iceberg"
        else UnifiedTableWriter(LocalStorage(root))
    )
    for exchange, symbol in SYMBOLS:
        for first in range(1, ROWS_PER_SYMBOL + 1, BATCH):
            writer.commit(exchange, symbol, trades(exchange, symbol, first, BATCH))


def timed(label: str, repeat: int, action: Callable[[], object]) -> float:
    """Run ``action`` ``repeat`` times; print wall and CPU time of each run and the medians.

    CPU time (all threads of this process) is printed too: on a shared machine the wall time
    mostly measures the other jobs.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
    median = statistics.median(walls)
    runs = ", ".join(f"{w:.2f}/{c:.2f}" for w, c in zip(walls, cpus, strict=True))
    print(f"{label}: median wall {median:.2f}s, CPU {statistics.median(cpus):.2f}s; runs {runs}")
    return median


def bench(table_format: str, root: Path, rebuild: bool, repeat: int) -> None:
    """Build the table of ``table_format`` if needed, then time the report, its steps, the check."""
    if rebuild or not any(root.glob("*")):
        started = time.perf_counter()
        build(table_format, root)
        print(f"built the {table_format} table in {time.perf_counter() - started:.1f}s")
    rows = run_query("SELECT count(*) AS n FROM trades_unified", str(root))["n"][0].as_py()
    assert rows == len(SYMBOLS) * ROWS_PER_SYMBOL * 999 // 1000, rows
    print(f"{table_format} table, {rows:,} rows")
    out = root.parent / f"{root.name}.html"
    timed("report", repeat, lambda: write_report(str(root), out))
    print(f"page size {out.stat().st_size / 2**20:.1f} MiB")
    connection = connect(str(root))
    create_report_view(connection, ReportFilter())
    now = dt.datetime.now(dt.UTC)
    timed("  of which DuckDB aggregation", repeat, lambda: aggregate_trades(connection, now))
    timed("check", repeat, lambda: check_unified_table(str(root)))


def main() -> None:
    """Time the report and the check on the 10M-row table of each format asked for."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--format", choices=["hive", "iceberg", "both"], default="both")
    args = parser.parse_args()
    formats = list(TABLES) if args.format == "both" else [args.format]
    for table_format in formats:
        bench(table_format, TABLES[table_format], args.rebuild, args.repeat)


if __name__ == "__main__":
    main()
