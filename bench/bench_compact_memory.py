"""Peak RSS of `schemahub compact` on one bin near the default 128 MB target.

Builds once (cached in `<--lake>.pristine`) an Iceberg trades_unified holding one symbol-day
as --files small files (~113 MB in all, each well under 3/4 of the target, so they form one
bin), then, --rounds times and alternating, restores --lake from it (the catalog holds absolute
paths, so the copy must sit at the same place) and compacts it with each variant under
`/usr/bin/time -v`: peak RSS, CPU (user+sys) and wall time; medians printed.
A variant is `current` (the installed code) or the path of another `compact.py` (e.g. the
baseline: `git show <rev>:target-s3-parquet/src/target_s3_parquet/compact.py > /tmp/old.py`).

    .venv/bin/python bench/bench_compact_memory.py --variant /tmp/old.py --variant current
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

DAY_US = 86_400_000_000
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
# Runs one variant's `run()` as `schemahub compact` would.
RUNNER = """
import argparse, importlib.util, sys
from target_s3_parquet import compact
variant, lake = sys.argv[1], sys.argv[2]
if variant != "current":
    spec = importlib.util.spec_from_file_location("compact_variant", variant)
    compact = sys.modules["compact_variant"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compact)
parser = argparse.ArgumentParser()
compact.add_arguments(parser)
sys.exit(compact.run(parser.parse_args(["--output-uri", lake, "--json"])))
"""


def trades(first: int, count: int, rng: np.random.Generator) -> pa.Table:
    """`count` Binance BTCUSDT trades from id `first`, spread evenly over 2026-01-01."""
    from schemahub_core.schema import UNIFIED_SCHEMA

    ids = np.arange(first, first + count)
    price = 60_000 + np.cumsum(rng.normal(0, 0.5, count)).round(2)
    return pa.table(
        {
            "exchange": pa.array(["BINANCE"] * count),
            "symbol": pa.array(["BTCUSDT"] * count),
            "base_asset": pa.array(["BTC"] * count),
            "quote_asset": pa.array(["USDT"] * count),
            "trade_id": pa.array(ids.astype(str)),
            "side": pa.array(np.where(rng.random(count) < 0.5, "BUY", "SELL")),
            "price": price,
            "quantity": rng.exponential(0.05, count).round(5),
            "trade_ts": pa.array(
                START_US + ids * (DAY_US // 12_000_000), pa.timestamp("us", "UTC")
            ),
            "ingest_ts": pa.array(np.full(count, START_US + DAY_US), pa.timestamp("us", "UTC")),
        },
        schema=UNIFIED_SCHEMA,
    )


def build(lake: Path, files: int, rows_per_file: int) -> None:
    """Commit `files` files of `rows_per_file` trades each, one commit per file."""
    from target_s3_parquet.iceberg_table import IcebergUnifiedTable

    writer = IcebergUnifiedTable.open(
        {"output_uri": str(lake), "table_format": "iceberg"}, compression="zstd"
    )
    rng = np.random.default_rng(7)
    for n in range(files):
        writer.commit("BINANCE", "BTCUSDT", trades(1 + n * rows_per_file, rows_per_file, rng))


def measure(variant: str, lake: Path) -> tuple[float, float, float]:
    """Peak RSS (MB), CPU s and wall s of compacting `lake`, restored first, with `variant`."""
    shutil.rmtree(lake, ignore_errors=True)
    shutil.copytree(pristine(lake), lake)
    done = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-c", RUNNER, variant, str(lake)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{variant} failed:\n{done.stderr}")
    report = json.loads(done.stdout)["partitions"]
    assert [p["files_after"] for p in report] == [1], report  # the bin became one file
    field = {m[0]: m[1] for m in re.findall(r"^\s*(.+?): (.+)$", done.stderr, re.MULTILINE)}
    wall = field["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")
    return (
        int(field["Maximum resident set size (kbytes)"]) / 1024,
        float(field["User time (seconds)"]) + float(field["System time (seconds)"]),
        float(wall[-2]) * 60 + float(wall[-1]),
    )


def pristine(lake: Path) -> Path:
    """Where the built table is kept untouched."""
    return lake.with_name(lake.name + ".pristine")


def main() -> None:
    """Build the lake if missing, then measure each variant --rounds times, alternating."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, default=Path("/tmp/schemahub-bench-compact"))
    parser.add_argument("--files", type=int, default=105)
    parser.add_argument("--rows-per-file", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[])
    args = parser.parse_args()
    if not pristine(args.lake).exists():
        shutil.rmtree(args.lake, ignore_errors=True)
        build(args.lake, args.files, args.rows_per_file)
        args.lake.rename(pristine(args.lake))
    data = sum(p.stat().st_size for p in pristine(args.lake).rglob("*.parquet"))
    print(f"lake {args.lake}: {data / 2**20:.1f} MB of data files")
    results: dict[str, list[tuple[float, float, float]]] = {v: [] for v in args.variant}
    for _ in range(args.rounds):
        for variant in args.variant or ["current"]:
            results.setdefault(variant, []).append(measure(variant, args.lake))
    for variant, runs in results.items():
        rss, cpu, wall = (statistics.median(column) for column in zip(*runs, strict=True))
        print(f"{variant}: peak RSS {rss:.0f} MB, CPU {cpu:.1f} s, wall {wall:.1f} s (median)")


if __name__ == "__main__":
    main()
