"""Benchmark the compaction loop and the table layout of the Iceberg `trades_unified`.

1. The pain, made on purpose: one month of four symbols in a local Iceberg table (SQL catalog)
   where COINBASE BTC-USD arrives as >= 2,000 small commits (one every ~21 minutes, as a
   frequent ingest would) and the three others as one commit per day, all through the
   target's real commit path (`IcebergUnifiedTable.commit`: ranges, properties, expiry). Built
   once and cached under bench/work/compaction/ (~5-10 min); the snapshot before compaction is
   recorded, so later runs roll the table back to it and compact again.
2. The query suite with DuckDB before and after `schemahub compact`, measured alternately
   (before, after, before, ...), median of --repeat rounds: files and bytes of the files
   scanned, planning and total time, CPU (user+sys) beside wall time; and the cost of the
   compaction itself (CPU s, bytes written).
3. The layout experiment: the same rows written in bulk into tables with other partition specs
   (day or month, with or without symbol), codecs (zstd, snappy), row-group sizes and target
   file sizes; the suite on each, layouts rotated every round.

The suite plans each query with pyiceberg (its row filter prunes partitions and, with the
files' column bounds, files) and hands DuckDB the planned files: the path issue 14 chose for
readers. `schemahub query`'s own path (`query.run_query`: the same, with the row filter
read from the SQL's WHERE) is timed beside it before and after compaction.

    .venv/bin/python bench/bench_compaction.py                  # compaction loop + layouts
    .venv/bin/python bench/bench_compaction.py --only layouts   # or --only compaction
    .venv/bin/python bench/bench_compaction.py --only compaction --reuse-compaction  # suite only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.expressions import (
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    LessThan,
)
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.table import DataScan, Table
from pyiceberg.transforms import DayTransform, IdentityTransform, MonthTransform
from schemahub_core import iceberg as catalogs
from schemahub_core import query as unified_query
from schemahub_core.schema import UNIFIED_SCHEMA
from target_s3_parquet import ranges
from target_s3_parquet.iceberg_table import (
    SORT_ORDER,
    IcebergUnifiedTable,
    encode_ranges,
    ranges_key,
    table_properties,
    unified_schema,
)

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "compaction"
SMALL = WORK / "small-commits"  # the cached 2,000-commit table
LAYOUTS = WORK / "layouts"
MARKER = SMALL / "built.json"
DATA_VERSION = 1

MONTH_START = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
DAYS = 30
TRADES_PER_SECOND = 1.0
# (exchange, symbol, base, quote, commits over the month): the first is the pain.
SYMBOLS = [
    ("COINBASE", "BTC-USD", "BTC", "USD", 2_000),
    ("COINBASE", "ETH-USD", "ETH", "USD", DAYS),
    ("BINANCE", "BTCUSDT", "BTC", "USDT", DAYS),
    ("BINANCE", "ETHUSDT", "ETH", "USDT", DAYS),
]
PAIN = SYMBOLS[0]
FIRST_ID = 1_000_000_000  # ten digits: string order is id order, as for real ids of one symbol


def trades(exchange: str, symbol: str, base: str, quote: str, seed: int) -> pa.Table:
    """The month's trades of one symbol (unified schema), ids dense, times ascending."""
    rng = np.random.default_rng(seed)
    n = int(DAYS * 86_400 * TRADES_PER_SECOND)
    start_us = int(MONTH_START.timestamp() * 1_000_000)
    gaps = rng.exponential(1_000_000 / TRADES_PER_SECOND, n).astype(np.int64)
    trade_us = start_us + np.minimum(np.cumsum(gaps), DAYS * 86_400_000_000 - 1)
    price = 60_000.0 * np.exp(np.cumsum(rng.normal(0, 2e-4, n)))
    ts = pa.array(trade_us, pa.timestamp("us", tz="UTC"))

    def constant(value: str) -> pa.Array:
        return pa.array([value]).take(np.zeros(n, dtype=np.int32))

    columns = {
        "exchange": constant(exchange),
        "symbol": constant(symbol),
        "base_asset": constant(base),
        "quote_asset": constant(quote),
        "trade_id": pc.cast(pa.array(np.arange(n, dtype=np.int64) + FIRST_ID), pa.string()),
        "side": pa.array(["BUY", "SELL"]).take((rng.random(n) < 0.5).astype(np.int32)),
        "price": pa.array(np.round(price, 2)),
        "quantity": pa.array(np.round(rng.exponential(0.05, n), 6)),
        "trade_ts": ts,
        "ingest_ts": ts,
    }
    return pa.table(columns).cast(UNIFIED_SCHEMA)


def all_trades() -> Iterator[tuple[tuple[str, str, str, str, int], pa.Table]]:
    """Each symbol of the data set with its month of trades (deterministic)."""
    for seed, spec in enumerate(SYMBOLS):
        yield spec, trades(*spec[:4], seed=seed)


def build_small_commits() -> dict[str, Any]:
    """The cached table: PAIN in >= 2,000 commits, the others daily; returns the marker.

    The daily symbols go through the target's commit (`IcebergUnifiedTable.commit`). PAIN's
    2,000 commits use the same data-file writer and merge-append on one open table, expiring
    all but the newest few snapshots as they go, then record its committed range in one last
    commit: the same files, manifests and properties the target leaves, without the target's
    per-commit reload (which made the build take over an hour on the shared machine).
    """
    if MARKER.exists() and json.loads(MARKER.read_text())["version"] == DATA_VERSION:
        return json.loads(MARKER.read_text())
    shutil.rmtree(SMALL, ignore_errors=True)
    SMALL.mkdir(parents=True)
    writer = IcebergUnifiedTable.open({"output_uri": str(SMALL)}, compression="zstd")
    started = time.monotonic()
    commits = 0
    for (exchange, symbol, _, _, batches), trades_of_symbol in all_trades():
        slices = [
            trades_of_symbol.slice(int(rows[0]), len(rows))
            for rows in np.array_split(np.arange(trades_of_symbol.num_rows), batches)
        ]
        if (exchange, symbol) != PAIN[:2]:
            for rows in slices:
                writer.commit(exchange, symbol, rows)
            commits += len(slices)
            continue
        table = writer.table
        table.refresh()
        for rows in slices:
            files = _dataframe_to_data_files(table_metadata=table.metadata, df=rows, io=table.io)
            transaction = table.transaction()
            with transaction.update_snapshot().merge_append() as append:
                for data_file in files:
                    append.append_data_file(data_file)
            transaction.commit_transaction()
            commits += 1
            if commits % 50 == 0:
                snapshots = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)
                old = [s.snapshot_id for s in snapshots[:-5]]
                table.maintenance.expire_snapshots().by_ids(old).commit()
                print(f"  {commits} commits ({time.monotonic() - started:.0f} s)", flush=True)
        ids = np.arange(trades_of_symbol.num_rows, dtype=np.int64) + FIRST_ID
        committed = ranges.added_ranges(exchange, ids, [], complete=False)
        table.transaction().set_properties(
            {ranges_key(exchange, symbol): encode_ranges(committed)}
        ).commit_transaction()
    writer.table.refresh()
    marker = {
        "version": DATA_VERSION,
        "commits": commits,
        "before_compaction_snapshot": writer.table.current_snapshot().snapshot_id,
        "build_seconds": round(time.monotonic() - started, 1),
    }
    MARKER.write_text(json.dumps(marker))
    return marker


def open_table(output_uri: Path) -> Table:
    """The unified table of a local output folder (SQL catalog)."""
    return unified_query.open_iceberg_table(str(output_uri))


# ---- the query suite ----


@dataclass(frozen=True)
class Query:
    """One query of the suite: pyiceberg's row filter and DuckDB's SQL over `t`."""

    name: str
    row_filter: BooleanExpression
    sql: str


def _ts(moment: dt.datetime) -> str:
    return moment.isoformat()


DAY = MONTH_START + dt.timedelta(days=12)
LOOKUP_ID = str(FIRST_ID + 1_234_567)
PAIN_FILTER = And(EqualTo("exchange", PAIN[0]), EqualTo("symbol", PAIN[1]))
SUITE = [
    Query(
        "vwap_1m_symbol_day",
        And(
            PAIN_FILTER,
            And(
                GreaterThanOrEqual("trade_ts", _ts(DAY)),
                LessThan("trade_ts", _ts(DAY + dt.timedelta(days=1))),
            ),
        ),
        f"SELECT time_bucket(INTERVAL 1 MINUTE, trade_ts) AS minute, "
        f"sum(price * quantity) / sum(quantity) AS vwap FROM t WHERE exchange = '{PAIN[0]}' "
        f"AND symbol = '{PAIN[1]}' AND trade_ts >= TIMESTAMPTZ '{_ts(DAY)}' "
        f"AND trade_ts < TIMESTAMPTZ '{_ts(DAY + dt.timedelta(days=1))}' "
        f"GROUP BY minute ORDER BY minute",
    ),
    Query(
        "month_count_all_symbols",
        And(
            GreaterThanOrEqual("trade_ts", _ts(MONTH_START)),
            LessThan("trade_ts", _ts(MONTH_START + dt.timedelta(days=DAYS))),
        ),
        f"SELECT exchange, symbol, count(*) AS trades FROM t "
        f"WHERE trade_ts >= TIMESTAMPTZ '{_ts(MONTH_START)}' "
        f"AND trade_ts < TIMESTAMPTZ '{_ts(MONTH_START + dt.timedelta(days=DAYS))}' "
        f"GROUP BY ALL ORDER BY ALL",
    ),
    Query(
        "point_lookup_trade_id",
        And(PAIN_FILTER, EqualTo("trade_id", LOOKUP_ID)),
        f"SELECT * FROM t WHERE exchange = '{PAIN[0]}' AND symbol = '{PAIN[1]}' "
        f"AND trade_id = '{LOOKUP_ID}'",
    ),
    Query(
        "latest_100_of_symbol",
        PAIN_FILTER,
        f"SELECT * FROM t WHERE exchange = '{PAIN[0]}' AND symbol = '{PAIN[1]}' "
        f"ORDER BY trade_ts DESC LIMIT 100",
    ),
]


@dataclass
class Run:
    """One query's measurement."""

    files: int
    bytes: int
    plan_s: float
    total_s: float
    cpu_s: float
    rows: int


def cpu_seconds() -> float:
    """User + system CPU of this process (DuckDB's threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_planned(table: Table, query: Query, snapshot_id: int | None) -> Run:
    """Plan with pyiceberg (filter, snapshot), then DuckDB over exactly the planned files."""
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    tasks = list(table.scan(row_filter=query.row_filter, snapshot_id=snapshot_id).plan_files())
    plan_s = time.perf_counter() - t0
    files = [task.file.file_path.removeprefix("file://") for task in tasks]
    connection = duckdb.connect(":memory:")
    connection.execute("SET TimeZone = 'UTC'")
    if files:
        connection.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet({files!r})")
    else:  # nothing matched the filter: an empty table of the right shape
        connection.register("t", UNIFIED_SCHEMA.empty_table())
    rows = connection.sql(query.sql).to_arrow_table().num_rows
    connection.close()
    return Run(
        files=len(tasks),
        bytes=sum(task.file.file_size_in_bytes for task in tasks),
        plan_s=plan_s,
        total_s=time.perf_counter() - t0,
        cpu_s=cpu_seconds() - cpu0,
        rows=rows,
    )


def run_schemahub_query(output_uri: Path, query: Query, snapshot_id: int | None) -> Run:
    """The same SQL through `schemahub query`'s own path (`run_query`: connect with the SQL,
    so pyiceberg plans with its WHERE, then DuckDB's `read_parquet` over the planned files)."""
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    as_of = str(snapshot_id) if snapshot_id is not None else None
    sql = query.sql.replace(" FROM t ", " FROM trades_unified ")
    connection = unified_query.connect(str(output_uri), as_of=as_of, sql=sql, raw_streams=True)
    plan_s = time.perf_counter() - t0
    rows = connection.sql(sql).to_arrow_table().num_rows
    connection.close()
    return Run(0, 0, plan_s, time.perf_counter() - t0, cpu_seconds() - cpu0, rows)


def medians(runs: list[Run]) -> Run:
    """The median of each figure over rounds (files, bytes and rows are the same each round)."""
    return Run(
        files=runs[0].files,
        bytes=runs[0].bytes,
        plan_s=statistics.median(r.plan_s for r in runs),
        total_s=statistics.median(r.total_s for r in runs),
        cpu_s=statistics.median(r.cpu_s for r in runs),
        rows=runs[0].rows,
    )


def measure_alternately(
    variants: dict[str, Callable[[Query], Run]], repeat: int
) -> dict[str, dict[str, Run]]:
    """Each variant's suite, variants rotated within every round; medians per query."""
    samples: dict[str, dict[str, list[Run]]] = {v: {q.name: [] for q in SUITE} for v in variants}
    names = list(variants)
    for round_number in range(repeat + 1):  # round 0 warms the page cache, not counted
        order = names[round_number % len(names) :] + names[: round_number % len(names)]
        for variant in order:
            for query in SUITE:
                run = variants[variant](query)
                if round_number:
                    samples[variant][query.name].append(run)
    return {
        v: {q: medians(runs) for q, runs in by_query.items()} for v, by_query in samples.items()
    }


def check_same_answers(results: dict[str, dict[str, Run]]) -> None:
    """Every variant must return the same number of rows for each query."""
    for query in SUITE:
        rows = {variant: by_query[query.name].rows for variant, by_query in results.items()}
        if len(set(rows.values())) != 1:
            raise SystemExit(f"{query.name}: variants disagree on the rows returned: {rows}")


# ---- 2. compaction loop ----


def data_files(table: Table | DataScan) -> tuple[int, int]:
    """Data files and their bytes in the table's current snapshot (or in a scan's)."""
    scan = table.scan() if isinstance(table, Table) else table
    tasks = list(scan.plan_files())
    return len(tasks), sum(t.file.file_size_in_bytes for t in tasks)


def compact(output_uri: Path, target_file_mb: int) -> dict[str, Any]:
    """Run `schemahub compact` as a subprocess; its wall, CPU and JSON report."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    command = [
        str(ROOT / ".venv" / "bin" / "schemahub"),
        "compact",
        "--output-uri",
        str(output_uri),
        "--target-file-mb",
        str(target_file_mb),
        "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"schemahub compact failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "report": json.loads(done.stdout)}


def compaction_loop(repeat: int, target_file_mb: int, reuse: bool = False) -> dict[str, Any]:
    """Roll back to the small-commit snapshot, compact, measure the suite before and after.

    ``reuse``: measure against the compaction a previous run left (no rollback, no compact).
    """
    marker = build_small_commits()
    table = open_table(SMALL)
    before_id = marker["before_compaction_snapshot"]
    reuse = reuse and table.current_snapshot().snapshot_id != before_id
    if not reuse and table.current_snapshot().snapshot_id != before_id:  # compacted before
        table.manage_snapshots().set_current_snapshot(snapshot_id=before_id).commit()
        table = open_table(SMALL)
    files_before, bytes_before = data_files(table.scan(snapshot_id=before_id))
    cost = (
        {"wall_s": 0.0, "cpu_s": 0.0, "report": "reused"}
        if reuse
        else compact(SMALL, target_file_mb)
    )
    table = open_table(SMALL)
    after_id = table.current_snapshot().snapshot_id
    files_after, bytes_after = data_files(table)
    variants = {
        "before": lambda q: run_planned(table, q, before_id),
        "after": lambda q: run_planned(table, q, after_id),
        "before (schemahub query)": lambda q: run_schemahub_query(SMALL, q, before_id),
        "after (schemahub query)": lambda q: run_schemahub_query(SMALL, q, after_id),
    }
    results = measure_alternately(variants, repeat)
    check_same_answers(results)
    return {
        "marker": marker,
        "files": (files_before, files_after),
        "bytes": (bytes_before, bytes_after),
        "cost": cost,
        "results": results,
    }


# ---- 3. layout experiment ----


@dataclass(frozen=True)
class Layout:
    """One way to lay out the same rows: partition spec and Parquet settings."""

    name: str
    spec: str  # "symbol-day", "symbol-month", "day", "month"
    codec: str = "zstd"
    row_group_rows: int = 1_048_576  # pyiceberg's default write.parquet.row-group-limit
    target_file_mb: int = 128  # compact's default


LAYOUT_CHOICES = [
    Layout("default: exchange, symbol, day; zstd", "symbol-day"),
    Layout("snappy", "symbol-day", codec="snappy"),
    Layout("row groups of 128k rows", "symbol-day", row_group_rows=131_072),
    Layout("exchange, symbol, month", "symbol-month"),
    Layout("exchange, symbol, month; 8 MB files", "symbol-month", target_file_mb=8),
    Layout("exchange, day (no symbol)", "day"),
    Layout("exchange, month (no symbol)", "month"),
]


def partition_spec(kind: str) -> PartitionSpec:
    """exchange, then symbol when the kind names it, then day or month of trade_ts."""
    ids = {name: i for i, name in enumerate(UNIFIED_SCHEMA.names, start=1)}
    fields = [PartitionField(ids["exchange"], 1000, IdentityTransform(), "exchange")]
    if kind.startswith("symbol-"):
        fields.append(PartitionField(ids["symbol"], 1001, IdentityTransform(), "symbol"))
    period = kind.removeprefix("symbol-")
    transform = DayTransform() if period == "day" else MonthTransform()
    fields.append(PartitionField(ids["trade_ts"], 1002, transform, f"trade_ts_{period}"))
    return PartitionSpec(*fields)


def _partition_keys(rows: pa.Table, spec: str) -> np.ndarray:
    """Each row's partition as one integer (exchange, maybe symbol, day or month)."""
    micros = rows.column("trade_ts").cast(pa.int64()).to_numpy()
    unit = "D" if spec.endswith("day") else "M"
    period = micros.astype("datetime64[us]").astype(f"datetime64[{unit}]").astype(np.int64)
    exchange = pc.dictionary_encode(rows.column("exchange")).combine_chunks().indices
    keys = exchange.to_numpy().astype(np.int64) << 40
    if spec.startswith("symbol-"):
        symbol = pc.dictionary_encode(rows.column("symbol")).combine_chunks().indices
        keys += symbol.to_numpy().astype(np.int64) << 20
    return keys + period


def write_layout(layout: Layout, folder: Path, rows: pa.Table) -> tuple[Table, float, float]:
    """`rows` as one table of this layout, as a compaction would leave it: per partition,
    files of about the target size, sorted by trade_ts, written with pyarrow and registered
    with pyiceberg's add_files (its partitioned append took ~6 min per layout here).
    Returns (table, write wall s, write CPU s)."""
    shutil.rmtree(folder, ignore_errors=True)
    properties = catalogs.catalog_properties(str(folder))
    catalog = catalogs.load_catalog(properties)
    catalog.create_namespace_if_not_exists(catalogs.NAMESPACE)
    table = catalog.create_table(
        catalogs.UNIFIED_IDENTIFIER,
        schema=unified_schema(),
        partition_spec=partition_spec(layout.spec),
        sort_order=SORT_ORDER,
        location=catalogs.table_location(properties, catalogs.UNIFIED_IDENTIFIER),
        properties=table_properties(layout.codec),
    )
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    keys = _partition_keys(rows, layout.spec)
    order = np.lexsort((rows.column("trade_ts").cast(pa.int64()).to_numpy(), keys))
    rows, keys = rows.take(pa.array(order)), keys[order]
    # Rows per file from the bytes per row of a sample written with the same settings.
    sample = pa.BufferOutputStream()
    pq.write_table(rows.slice(0, 100_000), sample, compression=layout.codec)
    rows_per_file = max(1, int(layout.target_file_mb * 2**20 * 100_000 / sample.tell()))
    data = folder / "data"
    data.mkdir(parents=True)
    paths = []
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    for start, end in zip(starts, [*starts[1:], len(keys)], strict=True):
        for first in range(int(start), int(end), rows_per_file):
            path = data / f"{len(paths):05d}.parquet"
            chunk = rows.slice(first, min(rows_per_file, int(end) - first))
            pq.write_table(
                chunk, path, compression=layout.codec, row_group_size=layout.row_group_rows
            )
            paths.append(f"file://{path}")
    table.add_files(paths)
    return table, time.perf_counter() - t0, cpu_seconds() - cpu0


def layout_experiment(repeat: int) -> dict[str, Any]:
    """Every layout written once, then the suite on all of them, layouts rotated."""
    tables: dict[str, Table] = {}
    written: dict[str, tuple[int, int, float]] = {}
    rows = pa.concat_tables(table for _, table in all_trades())
    for number, layout in enumerate(LAYOUT_CHOICES):
        table, wall, _cpu = write_layout(layout, LAYOUTS / str(number), rows)
        tables[layout.name] = table
        written[layout.name] = (*data_files(table), wall)
        print(f"  wrote layout {layout.name!r} in {wall:.1f} s")
    variants = {
        name: (lambda q, table=table: run_planned(table, q, None)) for name, table in tables.items()
    }
    results = measure_alternately(variants, repeat)
    check_same_answers(results)
    return {"written": written, "results": results}


# ---- report ----


def suite_total(by_query: dict[str, Run]) -> float:
    """Wall seconds of the whole suite (sum of the per-query medians)."""
    return sum(run.total_s for run in by_query.values())


def print_compaction(loop: dict[str, Any]) -> None:
    """The compaction figures as markdown tables."""
    (files_before, files_after), (bytes_before, bytes_after) = loop["files"], loop["bytes"]
    cost = loop["cost"]
    marker = loop["marker"]
    print(
        f"\nsmall-commit table: {marker['commits']} commits (built in {marker['build_seconds']} s)"
    )
    print(
        f"data files {files_before} -> {files_after} ({files_before / files_after:.1f}x fewer), "
        f"{bytes_before / 1e6:.1f} MB -> {bytes_after / 1e6:.1f} MB"
    )
    print(
        f"compaction: {cost['wall_s']:.1f} s wall, {cost['cpu_s']:.1f} s CPU; report: "
        f"{json.dumps(cost['report'])[:400]}"
    )
    print("\n| query | variant | files | MB scanned | plan ms | total ms | CPU ms |")
    print("|---|---|---|---|---|---|---|")
    for query in SUITE:
        for variant, by_query in loop["results"].items():
            run = by_query[query.name]
            files = "" if "schemahub" in variant else f"{run.files}"
            size = "" if "schemahub" in variant else f"{run.bytes / 1e6:.2f}"
            print(
                f"| {query.name} | {variant} | {files} | {size} | {run.plan_s * 1e3:.0f} | "
                f"{run.total_s * 1e3:.0f} | {run.cpu_s * 1e3:.0f} |"
            )
    for variant, by_query in loop["results"].items():
        print(f"suite {variant}: {suite_total(by_query) * 1e3:.0f} ms")


def print_layouts(experiment: dict[str, Any]) -> None:
    """The layout figures as one markdown table (suite times per query)."""
    header = " | ".join(q.name for q in SUITE)
    print(f"\n| layout | files | MB | write s | {header} (ms) | suite ms |")
    print("|---|---|---|---|" + "---|" * len(SUITE) + "---|")
    for name, by_query in experiment["results"].items():
        files, size, wall = experiment["written"][name]
        cells = " | ".join(
            f"{by_query[q.name].total_s * 1e3:.0f} ({by_query[q.name].files} f)" for q in SUITE
        )
        print(
            f"| {name} | {files} | {size / 1e6:.1f} | {wall:.1f} | {cells} | "
            f"{suite_total(by_query) * 1e3:.0f} |"
        )


def main() -> int:
    """Build the data once, then run the compaction loop and/or the layout experiment."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["compaction", "layouts"])
    parser.add_argument("--repeat", type=int, default=5, help="measured rounds (median)")
    parser.add_argument("--target-file-mb", type=int, default=128, help="compact's target")
    parser.add_argument(
        "--reuse-compaction",
        action="store_true",
        help="measure the suite against the compaction a previous run left (no compact)",
    )
    args = parser.parse_args()
    print(
        f"{dt.date.today()} {platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"cores, Python {platform.python_version()}, duckdb {duckdb.__version__}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    if args.only != "layouts":
        print_compaction(compaction_loop(args.repeat, args.target_file_mb, args.reuse_compaction))
    if args.only != "compaction":
        print_layouts(layout_experiment(args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
