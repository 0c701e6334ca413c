"""The unified table read back with DuckDB and pyarrow matches the input exactly."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import UTC, datetime

import duckdb
import pyarrow.parquet as pq
from schemahub_core.schema import FILE_SCHEMA
from target_s3_parquet.synthetic import (
    EXTRACTED_AT,
    binance_record,
    coinbase_record,
    trade_lines,
)
from target_s3_parquet.testing import read_unified, run_in_process

COINBASE_IDS = range(1, 2501)
BINANCE_IDS = range(1001, 3001)


def _expected_rows() -> dict[tuple[str, str, str], dict]:
    """What each trade must look like, computed from the records without the mapping engine."""
    rows = {}
    for i in COINBASE_IDS:
        r = coinbase_record("BTC-USD", i)
        rows[("COINBASE", "BTC-USD", str(i))] = {
            "side": {"buy": "SELL", "sell": "BUY"}[r["side"]],  # maker side -> taker side
            "price": float(r["price"]),
            "quantity": float(r["size"]),
            "trade_ts": datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
            "base_asset": "BTC",
            "quote_asset": "USD",
        }
    for i in BINANCE_IDS:
        r = binance_record("ETHUSDT", i)
        seconds, micros = divmod(r["time"], 1_000_000)
        rows[("BINANCE", "ETHUSDT", str(i))] = {
            "side": "SELL" if r["isBuyerMaker"] else "BUY",
            "price": float(r["price"]),
            "quantity": float(r["qty"]),
            "trade_ts": datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros),
            "base_asset": "ETH",
            "quote_asset": "USDT",
        }
    return rows


def _input() -> list[str]:
    return [
        *trade_lines("coinbase_trades", "BTC-USD", COINBASE_IDS[0], COINBASE_IDS[-1]),
        *trade_lines("binance_trades", "ETHUSDT", BINANCE_IDS[0], BINANCE_IDS[-1]),
    ]


def test_unified_table_holds_every_trade_with_exact_values(output, tmp_path):
    started = datetime.now(UTC)
    run_in_process({**output.config, "batch_size_rows": 1000}, _input())

    table = read_unified(output)
    assert table.num_rows == len(COINBASE_IDS) + len(BINANCE_IDS)
    expected = _expected_rows()
    for row in table.to_pylist():
        key = (row["exchange"], row["symbol"], row["trade_id"])
        want = expected.pop(key)
        assert {k: row[k] for k in want} == want, key
        assert row["date"] == want["trade_ts"].date()
        assert started <= row["ingest_ts"] <= datetime.now(UTC)
    assert not expected, f"missing: {list(expected)[:5]}"


def test_files_hold_file_schema_sorted_by_trade_ts_with_partitions_in_path(local_output, tmp_path):
    run_in_process({**local_output.config, "batch_size_rows": 1000}, _input())
    files = sorted(local_output.local_root.glob("unified/trades_unified/**/*.parquet"))
    assert files
    for path in files:
        parts = dict(
            p.split("=", 1) for p in path.relative_to(local_output.local_root).parts if "=" in p
        )
        assert set(parts) == {"exchange", "symbol", "date"}
        file = pq.read_table(path)
        assert file.schema.remove_metadata() == FILE_SCHEMA.remove_metadata()
        ts = file.column("trade_ts").to_pylist()
        assert ts == sorted(ts)
        assert {t.date().isoformat() for t in ts} == {parts["date"]}
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_duckdb_reads_the_hive_table_with_microsecond_timestamps(local_output, tmp_path):
    run_in_process({**local_output.config, "batch_size_rows": 700}, _input())
    glob = f"{local_output.local_root}/unified/trades_unified/**/*.parquet"
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT exchange, symbol, count(*), count(DISTINCT trade_id), "
        f"sum(CASE WHEN side = 'BUY' THEN 1 ELSE 0 END) "
        f"FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY ALL ORDER BY 1"
    ).fetchall()
    buys_binance = sum(1 for i in BINANCE_IDS if i % 2)
    buys_coinbase = sum(1 for i in COINBASE_IDS if i % 3 == 0)  # maker sell -> taker BUY
    assert rows == [
        ("BINANCE", "ETHUSDT", 2000, 2000, buys_binance),
        ("COINBASE", "BTC-USD", 2500, 2500, buys_coinbase),
    ]
    micros = con.execute(
        f"SELECT epoch_us(trade_ts) FROM read_parquet('{glob}', hive_partitioning = true) "
        f"WHERE exchange = 'BINANCE' AND trade_id = '1001'"
    ).fetchone()[0]
    assert micros == binance_record("ETHUSDT", 1001)["time"]


def test_raw_layer_keeps_each_record_as_received_plus_sdc_fields(storage_output, caplog):
    output = storage_output
    lines = [*trade_lines("coinbase_trades", "BTC-USD", 1, 50)]
    lines.append(
        json.dumps(
            {
                "type": "SCHEMA",
                "stream": "coinbase_products",
                "schema": {"properties": {"id": {"type": "string"}}},
                "key_properties": ["id"],
            }
        )
    )
    lines.append(
        '{"type": "RECORD", "stream": "coinbase_products", "record": {"id":"BTC-USD",'
        '"extra": 1.50}}'
    )
    with caplog.at_level(logging.INFO):
        run_in_process(output.config, lines)
    assert "'coinbase_products' has no mapping to trades_unified" in caplog.text

    fs, root = output.filesystem_and_root
    raw = {}
    for key in output.keys("raw"):
        assert key.endswith(".jsonl.gz")
        with fs.open_input_stream(f"{root}/{key}", compression=None) as handle:
            raw[key.split("/")[1]] = gzip.decompress(handle.read()).decode().splitlines()
    first = json.loads(raw["coinbase_trades"][0])
    assert first.pop("_sdc_extracted_at") == EXTRACTED_AT
    assert datetime.fromisoformat(first.pop("_sdc_received_at")) <= datetime.now(UTC)
    assert first == coinbase_record("BTC-USD", 1)
    assert len(raw["coinbase_trades"]) == 50
    # Exactly as received: the number keeps its "1.50" spelling, the keys their order.
    assert raw["coinbase_products"][0].startswith(
        '{"id":"BTC-USD","extra": 1.50,"_sdc_extracted_at":null'
    )
    assert not [k for k in output.keys("unified") if "coinbase_products" in k]


def test_trades_arriving_out_of_order_are_stored_sorted_by_trade_ts(local_output):
    lines = list(trade_lines("binance_trades", "ETHUSDT", 1, 400))
    run_in_process(local_output.config, [lines[0], *reversed(lines[1:])])
    files = sorted(local_output.local_root.glob("unified/trades_unified/**/*.parquet"))
    assert len(files) == 1
    table = pq.read_table(files[0])
    assert table.column("trade_id").to_pylist() == [str(i) for i in range(1, 401)]
    ts = table.column("trade_ts").to_pylist()
    assert ts == sorted(ts)


def test_record_count_metric_counts_every_record_of_each_stream(local_output, caplog):
    caplog.set_level(logging.INFO, logger="singer_sdk.metrics")
    run_in_process({**local_output.config, "batch_size_rows": 1000}, _input())
    counts: dict[str, int] = {}
    for record in caplog.records:
        if record.name == "singer_sdk.metrics" and "record_count" in record.getMessage():
            metric = json.loads(record.getMessage().split("METRIC: ", 1)[1])
            stream = metric["tags"]["stream"]
            counts[stream] = counts.get(stream, 0) + metric["value"]
    assert counts == {"coinbase_trades": len(COINBASE_IDS), "binance_trades": len(BINANCE_IDS)}
