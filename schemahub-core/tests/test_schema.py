"""The unified table's schema and partition keys, as written in docs/storage.md."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from schemahub_core.schema import (
    FILE_SCHEMA,
    PARTITION_KEYS,
    UNIFIED_SCHEMA,
    UNIFIED_TABLE,
    partition_dates,
)

UTC_US = pa.timestamp("us", tz="UTC")


def test_unified_schema_is_the_design_table_column_for_column():
    assert UNIFIED_TABLE == "trades_unified"
    assert [(f.name, f.type) for f in UNIFIED_SCHEMA] == [
        ("exchange", pa.string()),
        ("symbol", pa.string()),
        ("base_asset", pa.string()),
        ("quote_asset", pa.string()),
        ("trade_id", pa.string()),
        ("side", pa.string()),
        ("price", pa.float64()),
        ("quantity", pa.float64()),
        ("trade_ts", UTC_US),
        ("ingest_ts", UTC_US),
    ]


def test_every_unified_column_is_non_null():
    assert [f.name for f in UNIFIED_SCHEMA if f.nullable] == []


def test_partition_keys_and_file_schema_keep_path_keys_out_of_the_files():
    assert PARTITION_KEYS == ("exchange", "symbol", "date")
    assert FILE_SCHEMA.names == [
        "base_asset",
        "quote_asset",
        "trade_id",
        "side",
        "price",
        "quantity",
        "trade_ts",
        "ingest_ts",
    ]
    assert all(FILE_SCHEMA.field(n) == UNIFIED_SCHEMA.field(n) for n in FILE_SCHEMA.names)


def test_partition_date_is_the_utc_date_of_trade_ts_around_midnight():
    moments = [
        datetime(2024, 1, 1, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2024, 1, 2, 0, 0, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
    ]
    dates = partition_dates(pa.array(moments, UTC_US))
    assert dates.type == pa.date32()
    assert dates.to_pylist() == [date(2024, 1, 1), date(2024, 1, 2), date(1970, 1, 1)]


def test_partition_date_of_a_zoned_timestamp_is_still_the_utc_date():
    new_york = timezone(timedelta(hours=-5))
    evening = datetime(2024, 1, 1, 21, 0, tzinfo=new_york)  # 02:00 UTC on Jan 2
    zoned = pa.array([evening], pa.timestamp("us", tz="America/New_York"))
    assert partition_dates(zoned).to_pylist() == [date(2024, 1, 2)]


def test_partition_dates_work_on_chunked_columns():
    chunked = pa.chunked_array([pa.array([0], UTC_US), pa.array([86_400_000_000], UTC_US)])
    assert partition_dates(chunked).to_pylist() == [date(1970, 1, 1), date(1970, 1, 2)]


def test_partition_dates_refuse_naive_timestamps_and_non_timestamps():
    with pytest.raises(TypeError, match="time-zone-aware"):
        partition_dates(pa.array([0], pa.timestamp("us")))
    with pytest.raises(TypeError, match="time-zone-aware"):
        partition_dates(pa.array([0], pa.int64()))
