"""Staged commits: several batches' trades in one Iceberg commit, STATE only after it.

`iceberg_commit_rows` groups the mapped trades of RECORD batches into one commit per
(exchange, symbol); these tests pin what that must keep: each trade once (also across the
parts of one commit and against a rival writer), the same committed ranges as a commit per
batch, no STATE before its trades are committed, and a commit before bad input (on time when
the input goes quiet: test_cadence.py).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from schemahub_core import iceberg as catalogs
from target_s3_parquet.iceberg_table import (
    ADDED_SUMMARY,
    IcebergUnifiedTable,
    catalog_properties_for_target,
    committed_ranges,
)
from target_s3_parquet.synthetic import (
    coinbase_record,
    record_line,
    schema_line,
    state_line,
    trade_lines,
)
from target_s3_parquet.testing import (
    assert_exactly_once,
    read_iceberg,
    read_unified,
    run_in_process,
    unified_rows,
    watermark,
)
from target_s3_parquet.unified import Part


def _snapshots(config: dict) -> list:
    catalog = catalogs.load_catalog(catalog_properties_for_target(config))
    table = catalog.load_table(catalogs.UNIFIED_IDENTIFIER)
    return sorted(table.metadata.snapshots, key=lambda s: s.sequence_number)


def _kraken(ids: list[int]) -> pa.Table:
    """Unified rows of KRAKEN XBTUSD (sparse ids) with the given ids."""
    rows = unified_rows(range(len(ids)), "XBTUSD")
    rows = rows.set_column(0, "exchange", pa.array(["KRAKEN"] * len(ids)))
    return rows.set_column(4, "trade_id", pa.array([str(i) for i in ids]))


def test_parts_commit_as_one_snapshot_with_the_ranges_of_a_commit_per_part(tmp_path):
    parts = [
        Part(unified_rows(range(1, 101)), True),
        Part(unified_rows(range(90, 201)), True),  # 90-100 repeat the part before
        Part(unified_rows(range(300, 351)), False),
        Part(_kraken([1, 5, 9]), True),  # sparse ids: a complete part records its span
        Part(_kraken([7, 12, 20]), True),  # 7 is inside the span before: dropped
        Part(_kraken([30, 40]), False),  # incomplete: only its ids
    ]
    configs = {}
    for way in ("grouped", "one by one"):
        config = configs[way] = {
            "output_uri": str(tmp_path / way.replace(" ", "-")),
            "table_format": "iceberg",
        }
        table = IcebergUnifiedTable.open(config, compression="zstd")
        for exchange, symbol, mine in (
            ("BINANCE", "BTCUSDT", parts[:3]),
            ("KRAKEN", "XBTUSD", parts[3:]),
        ):
            if way == "grouped":
                result = table.commit_parts(exchange, symbol, mine)
                expected = {"BINANCE": (251, 11), "KRAKEN": (7, 1)}[exchange]
                assert (result.rows_written, result.rows_already_committed) == expected
            else:
                for part in mine:
                    table.commit(exchange, symbol, part.rows, complete=part.complete)
        configs[way + " ranges"] = committed_ranges(table.table)

    assert configs["grouped ranges"] == configs["one by one ranges"]
    assert configs["grouped ranges"] == {
        ("BINANCE", "BTCUSDT"): [(1, 200), (300, 350)],
        ("KRAKEN", "XBTUSD"): [(1, 9), (12, 20), (30, 30), (40, 40)],
    }
    order = [("exchange", "ascending"), ("trade_id", "ascending")]
    grouped = read_iceberg(configs["grouped"]).sort_by(order)
    assert grouped.equals(read_iceberg(configs["one by one"]).sort_by(order))
    assert_exactly_once(
        grouped.filter(pc.equal(grouped.column("exchange"), "BINANCE")),
        {("BINANCE", "BTCUSDT"): [*range(1, 201), *range(300, 351)]},
    )
    snapshots = _snapshots(configs["grouped"])
    assert len(snapshots) == 2  # one per (exchange, symbol), not one per part
    assert snapshots[0].summary[ADDED_SUMMARY] == "BINANCE/BTCUSDT=1:200,300:350"
    assert snapshots[1].summary[ADDED_SUMMARY] == "KRAKEN/XBTUSD=1:9,12:20,30,40"


def test_iceberg_commits_every_commit_rows_and_relays_state_only_after(iceberg_output):
    config = {**iceberg_output.config, "batch_size_rows": 100, "iceberg_commit_rows": 300}
    lines = trade_lines("coinbase_trades", "BTC-USD", 1, 1000, state_every=100)

    states = run_in_process(config, lines)

    # Batches of 100 are staged; a commit every 300 trades and at the end of input. A batch
    # is handed over when full, before the STATE after it is read: the commit of trades
    # 201-300 relays STATE 200, then STATE 300 follows at once (nothing staged). STATEs
    # read while trades waited staged (100, 400, 700) are never relayed.
    relayed = [watermark(state, "coinbase_trades") for state in states]
    assert relayed == [200, 300, 500, 600, 800, 900, 1000]
    totals = [int(s.summary["total-records"]) for s in _snapshots(config)]
    assert totals == [300, 600, 900, 1000]
    assert_exactly_once(read_iceberg(config), {("COINBASE", "BTC-USD"): range(1, 1001)})


def test_hive_still_commits_every_batch(local_output):
    config = {**local_output.config, "batch_size_rows": 100, "iceberg_commit_rows": 300}
    lines = trade_lines("coinbase_trades", "BTC-USD", 1, 500, state_every=100)

    states = run_in_process(config, lines)

    assert [watermark(state, "coinbase_trades") for state in states] == [100, 200, 300, 400, 500]
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 501)})


def test_bad_input_commits_the_staged_trades_before_it_and_relays_their_state(iceberg_output):
    config = {**iceberg_output.config, "batch_size_rows": 100}  # 300 trades stay staged
    lines = [
        *trade_lines("coinbase_trades", "BTC-USD", 1, 300),
        state_line("coinbase_trades", "BTC-USD", 300),
        '{"type": "RECORD", "stream": "coinbase_trades", "record": {',
    ]
    states: list[dict] = []

    with pytest.raises(Exception, match="not a valid Singer message"):
        run_in_process(config, lines, states)

    assert [watermark(state, "coinbase_trades") for state in states] == [300]
    assert_exactly_once(read_iceberg(config), {("COINBASE", "BTC-USD"): range(1, 301)})


def test_raw_tables_get_one_append_per_commit_and_every_row(iceberg_output):
    config = {
        **iceberg_output.config,
        "iceberg_raw_tables": True,
        "batch_size_rows": 100,
        "iceberg_commit_rows": 300,
    }

    run_in_process(config, trade_lines("coinbase_trades", "BTC-USD", 1, 1000, state_every=100))

    catalog = catalogs.load_catalog(catalog_properties_for_target(config))
    raw = catalog.load_table((catalogs.NAMESPACE, "raw_coinbase_trades"))
    assert sorted(raw.scan().to_arrow().column("trade_id").to_pylist()) == list(range(1, 1001))
    totals = sorted(int(s.summary["total-records"]) for s in raw.metadata.snapshots)
    assert totals == [300, 600, 900, 1000]  # staged with the trades, appended before them
    assert len(_snapshots(config)) == 4


def test_a_stream_of_two_products_gets_one_snapshot_per_product_per_commit(iceberg_output):
    config = {**iceberg_output.config, "batch_size_rows": 100, "iceberg_commit_rows": 300}
    lines = [schema_line("coinbase_trades")]
    for trade_id in range(1, 301):  # interleaved: every batch holds both products
        for product in ("BTC-USD", "ETH-USD"):
            lines.append(record_line("coinbase_trades", coinbase_record(product, trade_id)))

    run_in_process(config, lines)

    expected = {("COINBASE", "BTC-USD"): range(1, 301), ("COINBASE", "ETH-USD"): range(1, 301)}
    assert_exactly_once(read_iceberg(config), expected)
    added = [s.summary[ADDED_SUMMARY] for s in _snapshots(config)]
    # 600 trades: commits after batch 3 (ids 1-150 of each) and at the end (151-300).
    assert added == [
        "COINBASE/BTC-USD=1:150",
        "COINBASE/ETH-USD=1:150",
        "COINBASE/BTC-USD=151:300",
        "COINBASE/ETH-USD=151:300",
    ]
