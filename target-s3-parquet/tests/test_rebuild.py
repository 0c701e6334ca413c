"""`schemahub rebuild`: partitions re-derived from the raw layer, replaced in one snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from schemahub_core.cli import main
from schemahub_core.mapping import packaged_mappings_dir
from schemahub_core.query import run_query
from target_s3_parquet.iceberg_table import IcebergUnifiedTable, committed_ranges
from target_s3_parquet.synthetic import trade_lines
from target_s3_parquet.testing import assert_exactly_once, read_iceberg, run_in_process

KEY = ["exchange", "symbol", "trade_id"]
# Synthetic trades 1..3000 all happen on 2026-06-19 (synthetic.EPOCH + n * 37 ms).
DAY = ["--exchange", "BINANCE", "--symbol", "BTCUSDT", "--from", "2026-06-19", "--to", "2026-06-19"]


def ingest_twice_over(config: dict) -> None:
    """BTCUSDT 1..3000 and ETHUSDT 1..500 in small batches; 1001..2000 sent twice (at least
    once raw: the raw layer holds them twice, trades_unified once)."""
    config = {**config, "batch_size_rows": 500}
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1, 2_000))
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1_001, 3_000))
    run_in_process(config, trade_lines("binance_trades", "ETHUSDT", 1, 500))


def rows_without_ingest_ts(config: dict, snapshot_id: int | None = None):
    """The table in a fixed order, without the column a rebuild changes."""
    rows = read_iceberg(config, snapshot_id).drop_columns(["ingest_ts"])
    return rows.sort_by([(k, "ascending") for k in KEY])


def ingest_times(config: dict, symbol: str) -> list:
    """The distinct ingest_ts of a symbol's rows, sorted."""
    rows = read_iceberg(config).to_pylist()
    return sorted({r["ingest_ts"] for r in rows if r["symbol"] == symbol})


@pytest.mark.slow
@pytest.mark.parametrize("raw_tables", [False, True], ids=["jsonl-trail", "raw-iceberg-tables"])
def test_rebuild_with_unchanged_mappings_gives_the_same_rows_in_one_snapshot(
    iceberg_output, capsys, raw_tables
):
    config = {**iceberg_output.config, "iceberg_raw_tables": raw_tables}
    ingest_twice_over(config)
    before = rows_without_ingest_ts(config)
    ingested_before, eth_before = ingest_times(config, "BTCUSDT"), ingest_times(config, "ETHUSDT")
    table = IcebergUnifiedTable.open(config, compression="zstd").table
    snapshots, ranges = len(table.metadata.snapshots), committed_ranges(table)

    assert main(["rebuild", "--output-uri", iceberg_output.uri, *DAY, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 3_000
    assert report["raw_duplicates_dropped"] == 1_000
    expected_source = "raw Iceberg table" if raw_tables else "JSONL trail file(s)"
    assert expected_source in report["source"]["binance_trades"]
    assert "coinbase_trades" not in report["source"]  # its mapping makes only COINBASE rows
    table = table.refresh()
    assert len(table.metadata.snapshots) == snapshots + 1  # one atomic replace
    assert committed_ranges(table) == ranges
    assert rows_without_ingest_ts(config).equals(before)
    assert ingest_times(config, "BTCUSDT")[0] > ingested_before[-1]  # rewritten: new ingest_ts
    assert ingest_times(config, "ETHUSDT") == eth_before  # not selected: untouched
    assert_exactly_once(
        read_iceberg(config),
        {("BINANCE", "BTCUSDT"): range(1, 3_001), ("BINANCE", "ETHUSDT"): range(1, 501)},
    )


@pytest.mark.slow
def test_rebuild_with_a_changed_mapping_changes_rows_and_as_of_reads_the_old_ones(
    iceberg_output, tmp_path, capsys
):
    config = iceberg_output.config
    ingest_twice_over(config)
    old = rows_without_ingest_ts(config)
    previous = IcebergUnifiedTable.open(config, compression="zstd").table.current_snapshot()
    fixed = tmp_path / "mappings"
    fixed.mkdir()
    text = (packaged_mappings_dir() / "binance_trades.yaml").read_text()
    # The "fix": quantity from the quote quantity (a stand-in for any mapping change).
    text = text.replace("quantity: {from: qty,", "quantity: {from: quoteQty,")
    (fixed / "binance_trades.yaml").write_text(text)

    argv = ["rebuild", "--output-uri", iceberg_output.uri, *DAY, "--mappings-dir", str(fixed)]
    assert main(argv) == 0
    capsys.readouterr()
    new = rows_without_ingest_ts(config)
    btc = [r for r in new.to_pylist() if r["symbol"] == "BTCUSDT"]
    old_btc = [r for r in old.to_pylist() if r["symbol"] == "BTCUSDT"]
    assert [r["trade_id"] for r in btc] == [r["trade_id"] for r in old_btc]
    assert all(n["quantity"] != o["quantity"] for n, o in zip(btc, old_btc, strict=True))
    eth = [r for r in new.to_pylist() if r["symbol"] == "ETHUSDT"]
    assert eth == [r for r in old.to_pylist() if r["symbol"] == "ETHUSDT"]  # not rebuilt
    sql = "SELECT sum(quantity) AS q FROM trades_unified WHERE symbol = 'BTCUSDT'"
    as_of = run_query(sql, iceberg_output.uri, as_of=str(previous.snapshot_id)).to_pylist()
    assert as_of == [{"q": pytest.approx(sum(r["quantity"] for r in old_btc))}]


def test_rebuild_refuses_when_the_raw_layer_lacks_committed_trades(iceberg_output, capsys):
    config = {**iceberg_output.config, "batch_size_rows": 500}
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1, 1_000))
    before = rows_without_ingest_ts(config)
    first_raw_file = sorted(Path(iceberg_output.uri, "raw").rglob("*.jsonl.gz"))[0]
    first_raw_file.unlink()
    assert main(["rebuild", "--output-uri", iceberg_output.uri, *DAY]) == 2
    assert "lacks 500 of the 1000 trades" in capsys.readouterr().err
    assert rows_without_ingest_ts(config).equals(before)
