"""The unified trade table `trades_unified`: its Arrow schema and partition keys, defined once.

Everything that writes, reads or declares the table (the mapping engine, target-s3-parquet,
the Glue table in terraform, `schemahub check`) takes its columns from here.

Nullability: every column is declared non-null. A trade without an exchange, symbol, id, side,
price, quantity or time is not a trade, so the mapping engine rejects such rows with an error
instead of writing holes that every query would have to guard against.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

UNIFIED_TABLE = "trades_unified"
# Exchanges whose trade ids increase but skip values by design (Kraken's docs show trades
# 61044952, 61044953, 61044956): an id gap there is not a missing trade.
SPARSE_ID_EXCHANGES = frozenset({"KRAKEN"})

_TIMESTAMP_UTC = pa.timestamp("us", tz="UTC")

UNIFIED_SCHEMA = pa.schema(
    [
        pa.field("exchange", pa.string(), nullable=False),  # COINBASE, BINANCE, BINANCEUS, ...
        pa.field("symbol", pa.string(), nullable=False),  # the exchange's own: BTC-USD, BTCUSDT
        pa.field("base_asset", pa.string(), nullable=False),  # BTC
        pa.field("quote_asset", pa.string(), nullable=False),  # USD, USDT
        pa.field("trade_id", pa.string(), nullable=False),  # the exchange's trade id
        pa.field("side", pa.string(), nullable=False),  # taker side: BUY or SELL
        pa.field("price", pa.float64(), nullable=False),
        pa.field("quantity", pa.float64(), nullable=False),  # in base asset
        pa.field("trade_ts", _TIMESTAMP_UTC, nullable=False),  # when the trade executed
        pa.field("ingest_ts", _TIMESTAMP_UTC, nullable=False),  # when the row was written
    ]
)

# Hive-style partitions: unified/trades_unified/exchange=E/symbol=S/date=YYYY-MM-DD/.
# `date` is derived (UTC date of trade_ts) and, like exchange and symbol, lives in the path only.
PARTITION_KEYS: tuple[str, ...] = ("exchange", "symbol", "date")

# The columns stored inside each Parquet file: the unified columns minus those that are
# partition keys (exchange, symbol); `date` is not a column of UNIFIED_SCHEMA at all.
FILE_SCHEMA = pa.schema([f for f in UNIFIED_SCHEMA if f.name not in PARTITION_KEYS])

# What a reader (DuckDB, Athena) sees: the unified schema plus the derived `date` partition.
PARTITION_DATE_TYPE = pa.date32()


def partition_dates(trade_ts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Return the `date` partition value (UTC calendar date, date32) of every trade_ts."""
    if not pa.types.is_timestamp(trade_ts.type) or trade_ts.type.tz is None:
        # A naive timestamp has no defined UTC date; refusing it beats guessing a zone.
        raise TypeError(
            f"partition_dates needs a time-zone-aware timestamp array (trades_unified.trade_ts"
            f" is timestamp[us, tz=UTC]), got {trade_ts.type}"
        )
    # Cast to UTC first: casting a zoned timestamp to date32 takes the date in *that* zone.
    utc = trade_ts.cast(pa.timestamp(trade_ts.type.unit, tz="UTC"))
    return pc.cast(utc, PARTITION_DATE_TYPE)
