"""`schemahub query`: DuckDB over hand-built hive-partitioned tables, locally and on moto S3."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from schemahub_core.cli import main
from schemahub_core.paths import partition_path
from schemahub_core.schema import FILE_SCHEMA

UTC = dt.UTC
T0 = dt.datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)
VWAP_SQL = (
    "SELECT exchange, symbol, date_trunc('minute', trade_ts AT TIME ZONE 'UTC') AS minute,"
    " sum(price * quantity) / sum(quantity) AS vwap, count(*) AS trades"
    " FROM trades_unified GROUP BY ALL ORDER BY ALL"
)


def write_trades(
    filesystem: pafs.FileSystem,
    base: str,
    exchange: str,
    symbol: str,
    trades: list[tuple[str, float, float, dt.datetime]],
    name: str = "part-0.parquet",
) -> None:
    """Write (trade_id, price, quantity, trade_ts) rows as one file of FILE_SCHEMA."""
    day = trades[0][3].date().isoformat()
    table = pa.table(
        {
            "base_asset": ["BTC"] * len(trades),
            "quote_asset": ["USD"] * len(trades),
            "trade_id": [t[0] for t in trades],
            "side": ["BUY"] * len(trades),
            "price": [t[1] for t in trades],
            "quantity": [t[2] for t in trades],
            "trade_ts": [t[3] for t in trades],
            "ingest_ts": [T0] * len(trades),
        },
        schema=FILE_SCHEMA,
    )
    partition = partition_path(("exchange", exchange), ("symbol", symbol), ("date", day))
    folder = f"{base}/unified/trades_unified/{partition}"
    filesystem.create_dir(folder, recursive=True)
    pq.write_table(table, f"{folder}/{name}", filesystem=filesystem)


def write_vwap_fixture(filesystem: pafs.FileSystem, base: str) -> None:
    """Known trades: COINBASE BTC-USD over two minutes, BINANCE BTCUSDT in one minute."""
    write_trades(
        filesystem,
        base,
        "COINBASE",
        "BTC-USD",
        [
            ("1", 100.0, 1.0, T0),
            ("2", 110.0, 3.0, T0 + dt.timedelta(seconds=30)),
            ("3", 200.0, 2.0, T0 + dt.timedelta(minutes=1, seconds=5)),
        ],
    )
    write_trades(
        filesystem,
        base,
        "BINANCE",
        "BTCUSDT",
        [("7", 50.0, 2.0, T0), ("8", 80.0, 1.0, T0 + dt.timedelta(seconds=59))],
    )


# (exchange, symbol, minute, vwap, trades) worked out by hand from the fixture above.
EXPECTED_VWAP = [
    ("BINANCE", "BTCUSDT", "2024-03-01T10:00:00", 60.0, 2),  # (100 + 80) / 3
    ("COINBASE", "BTC-USD", "2024-03-01T10:00:00", 107.5, 2),  # (100 + 330) / 4
    ("COINBASE", "BTC-USD", "2024-03-01T10:01:00", 200.0, 1),
]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the `schemahub` command in-process and return (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_vwap_rows(stdout: str) -> None:
    """Assert the JSON output of VWAP_SQL equals the hand-computed figures."""
    rows = json.loads(stdout)
    got = [
        (r["exchange"], r["symbol"], r["minute"][:19], round(r["vwap"], 9), r["trades"])
        for r in rows
    ]
    assert got == EXPECTED_VWAP


def test_vwap_per_minute_on_a_local_folder(tmp_path: Path, capsys) -> None:
    write_vwap_fixture(pafs.LocalFileSystem(), str(tmp_path))
    code, out, err = run_cli(
        capsys, "query", VWAP_SQL, "--output-uri", str(tmp_path), "--format", "json"
    )
    assert code == 0, err
    assert_vwap_rows(out)


def test_partition_columns_and_csv_output(tmp_path: Path, capsys) -> None:
    write_vwap_fixture(pafs.LocalFileSystem(), str(tmp_path))
    sql = (
        "SELECT exchange, symbol, date, trade_id, price FROM trades_unified"
        " WHERE symbol = 'BTC-USD' ORDER BY trade_id"
    )
    code, out, err = run_cli(capsys, "query", sql, "--output-uri", str(tmp_path), "--format", "csv")
    assert code == 0, err
    assert list(csv.reader(io.StringIO(out))) == [
        ["exchange", "symbol", "date", "trade_id", "price"],
        ["COINBASE", "BTC-USD", "2024-03-01", "1", "100.0"],
        ["COINBASE", "BTC-USD", "2024-03-01", "2", "110.0"],
        ["COINBASE", "BTC-USD", "2024-03-01", "3", "200.0"],
    ]


def test_filters_prune_partitions_so_other_partitions_are_never_opened(
    tmp_path: Path, capsys
) -> None:
    """A corrupt file in another partition is harmless exactly when pruning works."""
    write_vwap_fixture(pafs.LocalFileSystem(), str(tmp_path))
    broken = tmp_path / "unified/trades_unified/exchange=BINANCE/symbol=BTCUSDT/date=2024-03-01"
    (broken / "corrupt.parquet").write_bytes(b"not parquet")
    pruned = "SELECT count(*) AS n FROM trades_unified WHERE exchange = 'COINBASE'"
    code, out, err = run_cli(
        capsys, "query", pruned, "--output-uri", str(tmp_path), "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out) == [{"n": 3}]
    by_date = "SELECT count(*) AS n FROM trades_unified WHERE date = DATE '2024-03-02'"
    code, out, err = run_cli(
        capsys, "query", by_date, "--output-uri", str(tmp_path), "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out) == [{"n": 0}]
    code, _, err = run_cli(capsys, "query", "SELECT count(*) FROM trades_unified",
                           "--output-uri", str(tmp_path))  # fmt: skip
    assert code == 2
    assert "corrupt.parquet" in err


def test_text_table_output(tmp_path: Path, capsys) -> None:
    write_vwap_fixture(pafs.LocalFileSystem(), str(tmp_path))
    sql = "SELECT exchange, count(*) AS n FROM trades_unified GROUP BY 1 ORDER BY 1"
    code, out, _ = run_cli(capsys, "query", sql, "--output-uri", str(tmp_path))
    assert code == 0
    assert out.splitlines() == [
        "exchange  n",
        "--------  -",
        "BINANCE   2",
        "COINBASE  3",
        "(2 rows)",
    ]


def test_missing_table_is_a_clear_error(tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "query", "SELECT 1", "--output-uri", str(tmp_path / "none"))
    assert code == 2
    assert out == ""
    assert "no unified table" in err and "meltano run" in err


def test_bad_sql_is_a_clear_error(tmp_path: Path, capsys) -> None:
    write_vwap_fixture(pafs.LocalFileSystem(), str(tmp_path))
    code, _, err = run_cli(capsys, "query", "SELECT nope FROM trades_unified",
                           "--output-uri", str(tmp_path))  # fmt: skip
    assert code == 2
    assert "query failed" in err and "nope" in err


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment", "/* nothing */ ;"])
def test_sql_without_a_statement_is_a_clear_error(tmp_path: Path, capsys, sql: str) -> None:
    write_vwap_fixture(pafs.LocalFileSystem(), str(tmp_path))
    code, out, err = run_cli(capsys, "query", sql, "--output-uri", str(tmp_path))
    assert code == 2
    assert out == ""
    assert "no result to show" in err and "SELECT" in err


def test_vwap_per_minute_on_s3(moto_endpoint: str, capsys) -> None:
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket="query-bucket")
    filesystem = pafs.S3FileSystem(
        endpoint_override="127.0.0.1:" + moto_endpoint.rsplit(":", 1)[1],
        scheme="http",
        region="us-east-1",
    )
    write_vwap_fixture(filesystem, "query-bucket/lake")
    code, out, err = run_cli(capsys, "query", VWAP_SQL, "--output-uri", "s3://query-bucket/lake",
                             "--s3-endpoint-url", moto_endpoint, "--format", "json")  # fmt: skip
    assert code == 0, err
    assert_vwap_rows(out)


def test_an_output_uri_with_a_query_string_is_refused_not_misread(
    moto_endpoint: str, capsys
) -> None:
    uri = "s3://bucket/lake?versionId=1"
    code = main(["query", "SELECT 1", "--output-uri", uri, "--s3-endpoint-url", moto_endpoint])
    assert code == 2
    assert "has a query string or fragment" in capsys.readouterr().err
