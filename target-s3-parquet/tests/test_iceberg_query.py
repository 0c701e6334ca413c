"""Reading the Iceberg trades_unified through `schemahub query` / `query.connect`."""

from __future__ import annotations

import json
import os

import pytest
from schemahub_core import iceberg as catalogs
from schemahub_core.cli import main
from schemahub_core.iceberg import filesystem_path
from schemahub_core.query import connect, run_query
from target_s3_parquet.compact import Compactor
from target_s3_parquet.iceberg_table import IcebergUnifiedTable
from target_s3_parquet.maintenance import Selection
from target_s3_parquet.synthetic import trade_lines
from target_s3_parquet.testing import read_iceberg, run_in_process, unified_rows


@pytest.fixture
def two_symbols(iceberg_output):
    """BTCUSDT and ETHUSDT, each spread over several days (one file per symbol and day)."""
    config = {**iceberg_output.config, "batch_size_rows": 100_000}
    # 3,000 trades of synthetic history span ~2 days per symbol.
    lines = [
        *trade_lines("binance_trades", "BTCUSDT", 1, 3_000),
        *trade_lines("binance_trades", "ETHUSDT", 1, 3_000),
    ]
    run_in_process(config, lines)
    return iceberg_output


def test_query_auto_detects_iceberg_and_offers_date_derived_from_trade_ts(two_symbols):
    uri = two_symbols.uri
    got = run_query(
        "SELECT count(*) AS n, bool_and(date = CAST(trade_ts AS DATE)) AS same FROM trades_unified",
        uri,
    ).to_pylist()
    assert got == [{"n": 6_000, "same": True}]


def test_one_symbol_one_day_query_opens_only_that_partitions_files(two_symbols):
    uri = two_symbols.uri
    day = (
        run_query("SELECT min(date) AS d FROM trades_unified WHERE symbol = 'ETHUSDT'", uri)
        .column("d")[0]
        .as_py()
    )
    expected = read_iceberg(two_symbols.config)
    want = sum(
        1
        for row in expected.select(["symbol", "date"]).to_pylist()
        if row["symbol"] == "ETHUSDT" and row["date"] == day
    )
    connection = connect(uri)  # the scan is planned here: the file list is fixed
    files = [
        os.path.join(folder, name)
        for folder, _, names in os.walk(two_symbols.local_root / "schemahub")
        for name in names
        if name.endswith(".parquet")
    ]
    other = [f for f in files if not ("symbol=ETHUSDT" in f and f"trade_ts_day={day}" in f)]
    assert other
    assert len(other) < len(files)
    # DuckDB checks at bind time that each file of the view exists; a query that opened
    # (read) any of these would now fail.
    for path in other:
        with open(path, "wb") as garbage:
            garbage.write(b"not a parquet file")
    one_day = connection.sql(
        f"SELECT count(*) FROM trades_unified WHERE symbol = 'ETHUSDT' AND date = '{day}'"
    ).fetchall()
    assert one_day == [(want,)]
    assert want > 0
    with pytest.raises(
        Exception, match=r"(?i)not a parquet file|too small to be a parquet file|magic bytes"
    ):
        connection.sql("SELECT count(*) FROM trades_unified").fetchall()


def test_query_as_of_reads_an_older_snapshot_and_tables_lists_it(iceberg_output, capsys):
    config = {**iceberg_output.config, "batch_size_rows": 10_000}
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1, 100))
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 101, 250))
    assert main(["tables", "--output-uri", iceberg_output.uri, "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert (entry["table"], entry["snapshots"], entry["rows"]) == (
        "schemahub.trades_unified",
        2,
        250,
    )
    first = IcebergUnifiedTable.open(config, compression="zstd").table.metadata.snapshots[0]
    sql = "SELECT count(*) AS n FROM trades_unified"
    args = ["query", sql, "--output-uri", iceberg_output.uri, "--format", "json"]
    assert main([*args, "--as-of", str(first.snapshot_id)]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 100}]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 250}]
    assert main([*args, "--as-of", "2001-01-01T00:00:00Z"]) == 2
    assert "had no snapshot yet" in capsys.readouterr().err


def test_check_reads_the_iceberg_table(iceberg_output, capsys):
    run_in_process(iceberg_output.config, trade_lines("coinbase_trades", "BTC-USD", 1, 500))
    assert main(["check", "--output-uri", iceberg_output.uri, "--max-age", "off", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(s["symbol"], s["rows"], s["duplicate_trade_ids"]) for s in report["symbols"]] == [
        ("BTC-USD", 500, 0)
    ]


def test_query_on_s3_iceberg_with_the_catalog_given(moto_endpoint, tmp_path, capsys):
    from target_s3_parquet.testing import make_s3_output

    output = make_s3_output(moto_endpoint, "iceberg", tmp_path)
    run_in_process(output.config, trade_lines("binance_trades", "BTCUSDT", 1, 300))
    args = ["query", "SELECT count(*) AS n FROM trades_unified", "--output-uri", output.uri]
    args += ["--s3-endpoint-url", moto_endpoint, "--format", "json"]
    args += ["--iceberg-catalog", json.dumps(output.config["iceberg_catalog"])]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 300}]


def test_query_reads_only_its_snapshots_files_with_duckdbs_parquet_reader(iceberg_output, capsys):
    """After compact + expire (old files deleted) the current snapshot reads; --as-of an
    older snapshot reads the older files, not the compacted one."""
    config = iceberg_output.config
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    for first in range(1, 801, 200):
        writer.commit("BINANCE", "BTCUSDT", unified_rows(range(first, first + 200)))
    before_compaction = writer.table.refresh().current_snapshot().snapshot_id
    old_files = {filesystem_path(t.file.file_path) for t in writer.table.scan().plan_files()}
    Compactor(writer.table, 1 << 20).compact(Selection())
    new_files = {
        filesystem_path(t.file.file_path) for t in writer.table.refresh().scan().plan_files()
    }
    assert len(old_files) == 4
    assert len(new_files) == 1
    assert not old_files & new_files
    sql = "SELECT count(*) AS n, count(DISTINCT trade_id) AS ids FROM trades_unified"

    connection = connect(iceberg_output.uri)  # DuckDB's reader, not an Arrow scan
    plan = "\n".join(str(row) for row in connection.sql(f"EXPLAIN {sql}").fetchall())
    connection.close()
    assert "READ_PARQUET" in plan
    assert "ARROW" not in plan.upper()

    # The older snapshot reads the four older files only: the compacted one unreadable.
    (compacted,) = new_files
    os.rename(compacted, compacted + ".aside")
    with open(compacted, "wb") as garbage:
        garbage.write(b"not a parquet file")
    old = run_query(sql, iceberg_output.uri, as_of=str(before_compaction)).to_pylist()
    assert old == [{"n": 800, "ids": 800}]
    with pytest.raises(Exception, match=r"(?i)not a parquet file|too small|magic bytes"):
        run_query(sql, iceberg_output.uri)
    os.replace(compacted + ".aside", compacted)

    args = ["expire", "--output-uri", iceberg_output.uri, "--older-than", "0s", "--keep", "1"]
    assert main([*args, "--grace", "0s", "--json"]) == 0
    capsys.readouterr()
    assert not any(os.path.exists(path) for path in old_files)
    assert run_query(sql, iceberg_output.uri).to_pylist() == [{"n": 800, "ids": 800}]
    with pytest.raises(ValueError, match="neither a snapshot id"):
        run_query(sql, iceberg_output.uri, as_of=str(before_compaction))


def test_many_partitions_are_read_a_branch_per_symbol_with_the_same_answers(
    iceberg_output, monkeypatch
):
    """Past MAX_PARTITION_BRANCHES partitions the view groups by symbol: same rows, dates."""
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    for symbol in ("BTCUSDT", "ETHUSDT"):
        writer.commit("BINANCE", symbol, unified_rows(range(1, 4_000), symbol))  # 3 days
    queries = [
        "SELECT symbol, date, count(*) AS n, bool_and(date = CAST(trade_ts AS DATE)) AS same"
        " FROM trades_unified GROUP BY ALL ORDER BY ALL",
        "SELECT count(*) AS n FROM trades_unified WHERE date = DATE '2026-01-02'",
        "SELECT count(*) AS n FROM trades_unified WHERE symbol = 'ETHUSDT'"
        " AND trade_ts >= TIMESTAMPTZ '2026-01-01 12:00:00+00'",
    ]
    per_partition = [run_query(sql, iceberg_output.uri).to_pylist() for sql in queries]
    monkeypatch.setattr(catalogs, "MAX_PARTITION_BRANCHES", 1)
    per_symbol = [run_query(sql, iceberg_output.uri).to_pylist() for sql in queries]
    assert per_symbol == per_partition
    days = per_partition[0]
    assert [(row["symbol"], row["n"]) for row in days] == [
        ("BTCUSDT", 1439),
        ("BTCUSDT", 1440),
        ("BTCUSDT", 1120),
        ("ETHUSDT", 1439),
        ("ETHUSDT", 1440),
        ("ETHUSDT", 1120),
    ]
    assert all(row["same"] for row in days)
    assert per_partition[1:] == [[{"n": 2 * 1440}], [{"n": 3_999 - 719}]]


def test_a_table_whose_files_may_lack_field_ids_is_read_by_name(iceberg_output):
    """A name mapping (set by add_files) means files may lack Iceberg field ids, which
    DuckDB's reader would turn into NULL columns: such a table is read as a pyarrow dataset."""
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    writer.commit("BINANCE", "BTCUSDT", unified_rows(range(1, 101)))
    table = writer.table.refresh()
    table.transaction().set_properties(
        {catalogs.NAME_MAPPING_PROPERTY: table.metadata.schema().name_mapping.model_dump_json()}
    ).commit_transaction()
    sql = "SELECT count(trade_id) AS n FROM trades_unified"
    connection = connect(iceberg_output.uri)
    plan = "\n".join(str(row) for row in connection.sql(f"EXPLAIN {sql}").fetchall())
    assert connection.sql(sql).fetchall() == [(100,)]
    connection.close()
    assert "READ_PARQUET" not in plan


def test_query_plans_with_its_where_and_answers_as_the_whole_snapshot_does(iceberg_output):
    """`run_query` hands pyiceberg the WHERE it can read: same answers as planning every
    file, and a one-symbol one-day query plans (so opens) only that partition's files."""
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    for symbol in ("BTCUSDT", "ETHUSDT"):
        for first in (1, 2_001):  # two commits: two files a day on 2026-01-02
            writer.commit("BINANCE", symbol, unified_rows(range(first, first + 2_000), symbol))
    uri = iceberg_output.uri
    queries = [
        "SELECT count(*), min(trade_ts), max(trade_ts) FROM trades_unified"
        " WHERE date = DATE '2026-01-02' AND symbol = 'ETHUSDT'",
        "SELECT count(*) FROM trades_unified WHERE date > '2026-01-01' AND date <= '2026-01-02'",
        "SELECT count(*) FROM trades_unified t WHERE t.symbol IN ('BTCUSDT')"
        " AND trade_ts BETWEEN TIMESTAMP '2026-01-01 23:00' AND '2026-01-02 01:00'",
        "SELECT count(*) FROM trades_unified WHERE '2026-01-02 00:00:00+01:00' > trade_ts",
        "SELECT trade_id, date FROM trades_unified WHERE trade_id = '1500' ORDER BY ALL",
        "SELECT count(*) FROM trades_unified WHERE date < TIMESTAMPTZ '2026-01-02 12:00:00+00'",
        "SELECT symbol, date, count(*) FROM trades_unified WHERE symbol = 'BTCUSDT'"
        " OR date = '2026-01-03' GROUP BY ALL ORDER BY ALL",
        "SELECT * FROM trades_unified WHERE exchange = 'BINANCE' ORDER BY trade_ts DESC,"
        " symbol LIMIT 3",
    ]
    whole = connect(uri)  # no SQL given: every file of the snapshot planned
    for sql in queries:
        assert run_query(sql, uri).to_pylist() == whole.sql(sql).to_arrow_table().to_pylist()
    whole.close()

    day_files = [
        path
        for path in (filesystem_path(t.file.file_path) for t in writer.table.scan().plan_files())
        if "symbol=ETHUSDT" in path and "trade_ts_day=2026-01-02" in path
    ]
    assert len(day_files) == 2
    for task in writer.table.scan().plan_files():
        path = filesystem_path(task.file.file_path)
        if path not in day_files:
            with open(path, "wb") as garbage:
                garbage.write(b"not a parquet file")
    got = run_query(queries[0], uri).column(0).to_pylist()
    assert got == [1_440]
    with pytest.raises(Exception, match=r"(?i)not a parquet file|too small|magic bytes"):
        run_query("SELECT count(*) FROM trades_unified WHERE symbol = 'BTCUSDT'", uri)
