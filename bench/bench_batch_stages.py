"""Where the BATCH lane's CPU goes: CPU-ms per 1M trades of each stage, tap and target apart.

Runs each stage in this one process on the first day of bench_batch.py's cached dumps
(build them first: `bench/bench_batch.py --days 6 --lanes limit`), with the code the lanes
run, and reports the median CPU time (user+sys of the process, Arrow's threads included)
over `--reps` repetitions, scaled to 1M trades. Also the fixed cost of starting each
process of a `meltano run`. From those: the steady-state rate each process could reach on
one whole core, and the rate two whole cores could reach with tap and target overlapping.

    .venv/bin/python bench/bench_batch_stages.py
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_batch import DUMPS, FIRST_DAY, MELTANO, SEED, SYMBOL, dump_name  # noqa: E402

CONSTANTS = {"symbol": SYMBOL, "base_asset": "BTC", "quote_asset": "USDT", "exchange": "BINANCE"}


def cpu(function: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """Median CPU seconds of `function()` over `reps` calls, and its last result."""
    times, result = [], None
    for _ in range(reps):
        started = time.process_time()
        result = function()
        times.append(time.process_time() - started)
    return statistics.median(times), result


def startup_cpu(command: list[str], reps: int) -> float:
    """Median CPU seconds (user+sys) of running `command` to its end."""
    times = []
    for _ in range(reps):
        before = os.times()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        after = os.times()
        times.append(
            after.children_user - before.children_user + after.children_system
            - before.children_system
        )  # fmt: skip
    return statistics.median(times)


def main() -> int:
    """Measure each stage and print the table (Markdown)."""
    from schemahub_core.batch_files import (
        arrow_schema,
        as_table,
        constant_columns,
        parquet_options,
    )
    from schemahub_core.mapping import load_mappings
    from tap_binance.bulk import DumpPeriod, read_dump, select_ids
    from tap_binance.streams import TradesStream
    from target_s3_parquet.batch_files import read_batch_file
    from target_s3_parquet.pipeline import commit_unified
    from target_s3_parquet.schema_rules import stream_shape
    from target_s3_parquet.storage import LocalStorage
    from target_s3_parquet.unified import UnifiedTableWriter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=6, help="which cached dump set (its day 1)")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    zips = sorted((DUMPS / f"seed{SEED}-{args.days}d").rglob(dump_name(FIRST_DAY)))
    if not zips:
        sys.exit(f"no cached dumps for --days {args.days}: run bench/bench_batch.py first")
    period = DumpPeriod("daily", FIRST_DAY, FIRST_DAY)
    schema = arrow_schema(TradesStream.schema)
    reps = args.reps

    stages: list[tuple[str, str, float]] = []  # (process, stage, CPU s per 1M trades)
    read_s, batches = cpu(lambda: list(read_dump(zips[0], period)), reps)
    rows = sum(b.num_rows for b in batches)
    per_m = 1e6 / rows
    stages.append(("tap", "unzip + Arrow CSV parse + checks (read_dump)", read_s * per_m))
    first, last = batches[0]["id"][0].as_py(), batches[-1]["id"][-1].as_py()

    def pages() -> pa.Table:
        return pa.concat_tables(
            as_table(constant_columns(select_ids(b, first, last), CONSTANTS), schema)
            for b in batches
        )

    pages_s, day = cpu(pages, reps)
    stages.append(
        ("tap", "id range + constant columns (select_ids, constant_columns)", pages_s * per_m)
    )

    def write_file() -> bytes:
        out = io.BytesIO()
        pq.write_table(day, out, compression="snappy", **parquet_options(day))
        return out.getvalue()

    write_s, data = cpu(write_file, reps)
    stages.append(("tap", "batch file write (Parquet, snappy)", write_s * per_m))

    shape = stream_shape(TradesStream.schema, ["symbol", "id"])
    read_file_s, loaded = cpu(
        lambda: read_batch_file(
            "binance_trades", "f", "parquet", data, shape, TradesStream.schema, validate=True
        ),
        reps,
    )
    stages.append(
        ("target", "batch file read + SCHEMA checks (read_batch_file)", read_file_s * per_m)
    )
    mapping = load_mappings()["binance_trades"]
    now = datetime.now(UTC)
    map_s, mapped = cpu(lambda: mapping.apply(loaded, now), reps)
    stages.append(("target", "mapping to trades_unified", map_s * per_m))

    with tempfile.TemporaryDirectory(dir=ROOT / "bench" / "work") as folder:
        storage = LocalStorage(folder)
        count = iter(range(1_000_000))

        def raw_copy() -> None:
            digest = hashlib.sha256(data).hexdigest()[:16]
            storage.put(f"raw_batches/{next(count)}-{digest}.parquet", data, if_absent=True)

        raw_s, _ = cpu(raw_copy, reps)
        stages.append(("target", "raw_batches copy (SHA-256, write, fsync)", raw_s * per_m))

        def commit() -> None:
            writer = UnifiedTableWriter(LocalStorage(Path(folder) / f"u{next(count)}"))
            commit_unified(writer, mapped, complete=True)

        commit_s, _ = cpu(commit, reps)
        stages.append(
            ("target", "hive commit (dedup, sort check, zstd Parquet, fsync)", commit_s * per_m)
        )

    venv = ROOT / ".venv" / "bin"
    fixed = [
        (name, f"start-up ({' '.join(Path(c).name for c in command)})", startup_cpu(command, 3))
        for name, command in (
            ("tap", [str(venv / "tap-binance"), "--about"]),
            ("target", [str(venv / "target-s3-parquet"), "--about"]),
            ("meltano", [MELTANO, "--version"]),
        )
    ]

    print(
        f"{rows:,} trades ({date.isoformat(FIRST_DAY)}), median of {reps}; load {os.getloadavg()}"
    )
    print()
    print("| process | stage | CPU ms per 1M trades |")
    print("|---|---|---:|")
    totals: dict[str, float] = {}
    for process, stage, seconds in stages:
        totals[process] = totals.get(process, 0.0) + seconds
        print(f"| {process} | {stage} | {seconds * 1000:,.0f} |")
    for process, total in totals.items():
        print(f"| {process} | **per-trade total** | **{total * 1000:,.0f}** |")
    for process, stage, seconds in fixed:
        print(f"| {process} | {stage}, once per process | {seconds * 1000:,.0f} (fixed) |")
    tap, target = totals["tap"], totals["target"]
    print()
    print(
        f"Bounds (whole idle cores, no start-up): tap alone {1e6 / tap / 1e6:.2f}M trades/s, "
        f"target alone {1e6 / target / 1e6:.2f}M trades/s; the steady state is the slower "
        f"of the two, {min(1 / tap, 1 / target):.2f}M trades/s on two cores "
        f"({2 / (tap + target):.2f}M/s if the work split evenly)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
