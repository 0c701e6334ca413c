"""Mapping engine throughput: `Mapping.apply` vs a plain per-row Python mapping, same data.

    .venv/bin/python bench/bench_mapping.py            # 1M rows per exchange, 200k baseline
    .venv/bin/python bench/bench_mapping.py --rows 100000 --baseline-rows 20000   # quick look

Source tables are generated up front (columnar, seeded) in the exact shape the taps emit:
Coinbase decimal strings padded to 8 places, RFC 3339 times with trailing zeros trimmed, maker
sides; Binance microsecond integer times and isBuyerMaker booleans. Arrow is pinned to one
thread so the figure is "per core". The per-row baseline maps Python dicts to Python values
(datetime, float) and is not charged for building Arrow output, which flatters it.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from schemahub_core.mapping import Mapping, load_mappings
from schemahub_core.schema import UNIFIED_SCHEMA

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START_US = 1_718_800_000_000_000  # 2024-06-19, microseconds
MAKER_TO_TAKER = {"buy": "SELL", "sell": "BUY"}


def _decimal_strings(units: np.ndarray, places: int = 8) -> pa.Array:
    """Integers in units of 10**-places -> zero-padded decimal strings ("63212.97000000")."""
    whole = pc.cast(pa.array(units // 10**places), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pa.array(units % 10**places), pa.string()), places, "0")
    return pc.binary_join_element_wise(whole, fraction, ".")


def coinbase_source(rows: int, rng: np.random.Generator) -> pa.Table:
    """Records of tap-coinbase's `coinbase_trades` stream, as columns."""
    micros = START_US + np.cumsum(rng.integers(0, 400_000, rows))
    # Every 10th time has a round fraction so trailing-zero trimming (0-6 digits) is exercised.
    micros[::10] -= micros[::10] % 10_000
    stamps = pc.strftime(pa.array(micros, pa.timestamp("us")), format="%Y-%m-%dT%H:%M:%S")
    trimmed = pc.utf8_rtrim(pc.utf8_rtrim(stamps, "0"), ".")
    times = pc.binary_join_element_wise(trimmed, pa.scalar("Z"), "")
    return pa.table(
        {
            "trade_id": pa.array(1_040_000_000 + np.arange(rows), pa.int64()),
            "side": pa.array(np.where(rng.random(rows) < 0.5, "buy", "sell")),
            "size": _decimal_strings(rng.integers(1, 5 * 10**8, rows)),
            "price": _decimal_strings(rng.integers(6_000_000, 6_500_000, rows) * 10**6),
            "time": times,
            "product_id": pa.array(["BTC-USD"] * rows),
            "base_asset": pa.array(["BTC"] * rows),
            "quote_asset": pa.array(["USD"] * rows),
        }
    )


def binance_source(rows: int, rng: np.random.Generator) -> pa.Table:
    """Records of tap-binance's `binance_trades` stream, as columns."""
    qty = rng.integers(1, 10**9, rows)
    price = rng.integers(6_000_000, 6_500_000, rows) * 10**6
    return pa.table(
        {
            "id": pa.array(3_000_000_000 + np.arange(rows), pa.int64()),
            "price": _decimal_strings(price),
            "qty": _decimal_strings(qty),
            "quoteQty": _decimal_strings(qty * price // 10**8),
            "time": pa.array(START_US + np.cumsum(rng.integers(0, 20_000, rows)), pa.int64()),
            "isBuyerMaker": pa.array(rng.random(rows) < 0.5),
            "isBestMatch": pa.array(np.ones(rows, dtype=bool)),
            "symbol": pa.array(["BTCUSDT"] * rows),
            "base_asset": pa.array(["BTC"] * rows),
            "quote_asset": pa.array(["USDT"] * rows),
            "exchange": pa.array(["BINANCE"] * rows),
        }
    )


def coinbase_per_row(records: list[dict[str, Any]], ingest: datetime) -> list[dict[str, Any]]:
    """The Coinbase mapping written the obvious way: one dict at a time."""
    return [
        {
            "exchange": "COINBASE",
            "symbol": r["product_id"],
            "base_asset": r["base_asset"],
            "quote_asset": r["quote_asset"],
            "trade_id": str(r["trade_id"]),
            "side": MAKER_TO_TAKER[r["side"].lower()],
            "price": float(r["price"]),
            "quantity": float(r["size"]),
            "trade_ts": datetime.fromisoformat(r["time"]),
            "ingest_ts": ingest,
        }
        for r in records
    ]


def binance_per_row(records: list[dict[str, Any]], ingest: datetime) -> list[dict[str, Any]]:
    """The Binance mapping written the obvious way: one dict at a time."""
    return [
        {
            "exchange": r["exchange"],
            "symbol": r["symbol"],
            "base_asset": r["base_asset"],
            "quote_asset": r["quote_asset"],
            "trade_id": str(r["id"]),
            "side": "SELL" if r["isBuyerMaker"] else "BUY",
            "price": float(r["price"]),
            "quantity": float(r["qty"]),
            "trade_ts": EPOCH + timedelta(microseconds=r["time"]),
            "ingest_ts": ingest,
        }
        for r in records
    ]


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Fastest wall time of `repeats` runs, in seconds."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


def column_profile(mapping: Mapping, source: pa.Table) -> list[tuple[str, float]]:
    """Seconds spent producing each unified column, slowest first (uses the engine's own step)."""
    timings = []
    for rule in mapping.rules:
        field = UNIFIED_SCHEMA.field(rule.target)
        # The engine's own per-column step, timed alone: what the profile is about.
        seconds = best_of(3, lambda r=rule, f=field: mapping._column(r, f, source))  # noqa: SLF001
        label = rule.target + (f" ({'+'.join(rule.transforms)})" if rule.transforms else "")
        timings.append((label, seconds))
    return sorted(timings, key=lambda t: -t[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=200_000)
    args = parser.parse_args()
    pa.set_cpu_count(1)  # one core: no hidden parallelism inside Arrow kernels
    pa.set_io_thread_count(1)
    rng = np.random.default_rng(7)
    mappings = load_mappings()
    ingest = datetime.now(UTC)
    print(f"python {platform.python_version()}, pyarrow {pa.__version__}, arrow threads 1")
    for name, make, per_row in [
        ("coinbase_trades", coinbase_source, coinbase_per_row),
        ("binance_trades", binance_source, binance_per_row),
    ]:
        source = make(args.rows, rng)
        mapping = mappings[name]
        unified = mapping.apply(source, ingest)
        assert unified.schema.equals(UNIFIED_SCHEMA)
        assert unified.num_rows == args.rows
        engine_s = best_of(3, lambda m=mapping, s=source: m.apply(s, ingest))
        records = source.slice(0, args.baseline_rows).to_pylist()
        expected = unified.slice(0, args.baseline_rows).to_pylist()
        assert per_row(records, ingest) == expected, "per-row baseline disagrees with the engine"
        row_s = best_of(3, lambda r=records, f=per_row: f(r, ingest))
        engine_rate, row_rate = args.rows / engine_s, args.baseline_rows / row_s
        print(
            f"{name}: Mapping.apply {args.rows:,} rows in {engine_s * 1000:.0f} ms = "
            f"{engine_rate / 1e6:.2f}M rows/s; per-row Python {args.baseline_rows:,} rows in "
            f"{row_s * 1000:.0f} ms = {row_rate / 1e6:.3f}M rows/s; "
            f"speedup {engine_rate / row_rate:.0f}x"
        )
        profile = ", ".join(
            f"{label} {s * 1000:.0f} ms" for label, s in column_profile(mapping, source)
        )
        print(f"  per column: {profile}")


if __name__ == "__main__":
    main()
