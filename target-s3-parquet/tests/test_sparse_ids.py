"""Sparse trade ids (Kraken): committed ranges stay few, and exactly once still holds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from schemahub_core.mapping import load_mappings
from target_s3_parquet import ranges
from target_s3_parquet.iceberg_table import IcebergUnifiedTable, decode_ranges, ranges_key
from target_s3_parquet.storage import LocalStorage
from target_s3_parquet.tables import UnifiedTable, open_unified_table
from target_s3_parquet.testing import Output, read_unified
from target_s3_parquet.unified import UnifiedTableWriter


def open_writer(output: Output) -> UnifiedTable:
    """The output's unified table (Hive or Iceberg), as the target opens it."""
    return open_unified_table(output.config, LocalStorage(output.local_root))


def committed_ranges(writer: UnifiedTable, exchange: str, symbol: str) -> ranges.Ranges:
    """The committed id ranges of one (exchange, symbol), where the writer's format keeps them."""
    if isinstance(writer, IcebergUnifiedTable):
        return decode_ranges(writer.table.properties.get(ranges_key(exchange, symbol)))
    assert isinstance(writer, UnifiedTableWriter)
    return writer.head(exchange, symbol).committed


def kraken_table(ids) -> pa.Table:
    """Mapped kraken_trades rows for the given trade ids."""
    records = [
        {
            "price": "63000.10000",
            "volume": "0.01000000",
            "time": f"{1_780_000_000 + i // 10}.{i % 10}000001",
            "side": "b" if i % 2 else "s",
            "ordertype": "l",
            "misc": "",
            "trade_id": int(i),
            "pair": "XBTUSD",
            "base_asset": "BTC",
            "quote_asset": "USD",
            "exchange": "KRAKEN",
        }
        for i in ids
    ]
    return load_mappings()["kraken_trades"].apply(pa.Table.from_pylist(records))


def sparse_ids(count: int, seed: int = 1) -> np.ndarray:
    """Increasing ids of which about a quarter never exist, as at Kraken."""
    rng = np.random.default_rng(seed)
    return 61_000_000 + np.cumsum(rng.choice([1, 1, 1, 2], size=count))


def test_complete_batches_of_sparse_ids_commit_their_spans_not_every_run(any_output):
    writer = open_writer(any_output)
    ids = sparse_ids(4000)
    batches = np.array_split(ids, 20)
    for batch in batches:
        writer.commit("KRAKEN", "XBTUSD", kraken_table(batch), complete=True)
    committed = committed_ranges(writer, "KRAKEN", "XBTUSD")
    assert len(ranges.runs(ids)) > 500, "the ids really are sparse"
    assert len(committed) <= len(batches)
    assert committed[0][0] == ids[0]
    assert committed[-1][1] == ids[-1]
    # A replay of any batch (an older state) writes nothing; older history still lands.
    assert (
        writer.commit("KRAKEN", "XBTUSD", kraken_table(batches[7]), complete=True).rows_written == 0
    )
    older = np.arange(60_999_000, 60_999_100)
    assert writer.commit("KRAKEN", "XBTUSD", kraken_table(older), complete=True).rows_written == 100
    table = read_unified(any_output)
    assert table.num_rows == ids.size + older.size
    assert len(set(table.column("trade_id").to_pylist())) == table.num_rows


def test_a_batch_not_known_complete_commits_runs_so_missing_trades_can_still_land(any_output):
    writer = open_writer(any_output)
    ids = sparse_ids(200)
    held_back = ids[50]  # e.g. a record set aside in quarantine
    writer.commit("KRAKEN", "XBTUSD", kraken_table(np.delete(ids, 50)), complete=False)
    assert writer.commit("KRAKEN", "XBTUSD", kraken_table([held_back])).rows_written == 1


def test_dense_exchanges_keep_runs_even_for_complete_batches(any_output):
    from target_s3_parquet.synthetic import binance_record

    writer = open_writer(any_output)
    records = [binance_record("BTCUSDT", i) for i in (1, 2, 3, 7, 8)]
    mapped = load_mappings()["binance_trades"].apply(pa.Table.from_pylist(records))
    writer.commit("BINANCE", "BTCUSDT", mapped, complete=True)
    assert committed_ranges(writer, "BINANCE", "BTCUSDT") == [(1, 3), (7, 8)]


def test_a_batch_in_any_order_with_repeats_records_the_exact_runs_of_its_ids(any_output):
    writer = open_writer(any_output)
    ids = np.array([5, 3, 12, 4, 3, 11, 6, 20, 5], dtype=np.int64)  # runs 3-6, 11-12, 20
    result = writer.commit("KRAKEN", "XBTUSD", kraken_table(ids))
    assert result.rows_written == 7
    assert committed_ranges(writer, "KRAKEN", "XBTUSD") == [(3, 6), (11, 12), (20, 20)]
