"""`schemahub query`: DuckDB over hand-built hive-partitioned tables, locally and on moto S3."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import boto3
import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from schemahub_core.cli import main
from schemahub_core.paths import partition_path
from schemahub_core.schema import FILE_SCHEMA
from target_s3_parquet.synthetic import coinbase_record, record_line, schema_line
from target_s3_parquet.testing import make_local_output, make_s3_output, run_in_process

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
    assert "no unified table" in err
    assert "meltano run" in err


def test_bad_sql_is_a_clear_error(tmp_path: Path, capsys) -> None:
    write_vwap_fixture(pafs.LocalFileSystem(), str(tmp_path))
    code, _, err = run_cli(capsys, "query", "SELECT nope FROM trades_unified",
                           "--output-uri", str(tmp_path))  # fmt: skip
    assert code == 2
    assert "query failed" in err
    assert "nope" in err


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment", "/* nothing */ ;"])
def test_sql_without_a_statement_is_a_clear_error(tmp_path: Path, capsys, sql: str) -> None:
    write_vwap_fixture(pafs.LocalFileSystem(), str(tmp_path))
    code, out, err = run_cli(capsys, "query", sql, "--output-uri", str(tmp_path))
    assert code == 2
    assert out == ""
    assert "no result to show" in err
    assert "SELECT" in err


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


def coinbase_trade(trade_id: int, price: str, size: str, time: str) -> str:
    """One RECORD line of `coinbase_trades` (BTC-USD) with a known price, size and time."""
    record = {"trade_id": trade_id, "side": "buy", "size": size, "price": price, "time": time}
    record |= {"product_id": "BTC-USD", "base_asset": "BTC", "quote_asset": "USD"}
    return record_line("coinbase_trades", record)


# Trades 2 and 3 share a time: the close of 10:00 is trade 3's, the later id.
KNOWN_TRADES = [
    (1, "100.0", "1.0", "2024-03-01T10:00:00.000000Z"),
    (2, "110.0", "3.0", "2024-03-01T10:00:30.000000Z"),
    (3, "90.0", "1.0", "2024-03-01T10:00:30.000000Z"),
    (4, "200.0", "2.0", "2024-03-01T10:01:05.000000Z"),
]
ODD_STREAM = "ticks/v1"  # unmapped: raw trail only; its folder is raw/ticks%2Fv1/
ODD_SCHEMA = {"type": "object", "properties": {"n": {"type": ["integer"]}}}


@pytest.fixture(scope="module", params=["iceberg", "hive"])
def known_lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """KNOWN_TRADES and two records of ODD_STREAM, written by the real target."""
    root = tmp_path_factory.mktemp("known")
    config = {"output_uri": str(root), "table_format": request.param,
              "iceberg_raw_tables": request.param == "iceberg"}  # fmt: skip
    odd_schema = {
        "type": "SCHEMA",
        "stream": ODD_STREAM,
        "schema": ODD_SCHEMA,
        "key_properties": [],
    }
    run_in_process(
        config,
        [
            schema_line("coinbase_trades"),
            *(coinbase_trade(*trade) for trade in KNOWN_TRADES),
            json.dumps(odd_schema),
            record_line(ODD_STREAM, {"n": 1}),
            record_line(ODD_STREAM, {"n": 2}),
        ],
    )
    return str(root)


def query_json(capsys: pytest.CaptureFixture[str], sql: str, lake: str, *options: str) -> list:
    """Run `schemahub query --format json` and return its rows."""
    code, out, err = run_cli(capsys, "query", sql, "--output-uri", lake, "--format", "json",
                             *options)  # fmt: skip
    assert code == 0, err
    return json.loads(out)


CANDLE_COLUMNS = "bucket_start, open, high, low, close, volume, quote_volume, trades, vwap"


def test_candles_are_ohlcv_per_minute_by_default(known_lake: str, capsys) -> None:
    sql = f"SELECT exchange, symbol, {CANDLE_COLUMNS} FROM candles ORDER BY bucket_start"
    rows = query_json(capsys, sql, known_lake)
    assert [(r["exchange"], r["symbol"]) for r in rows] == [("COINBASE", "BTC-USD")] * 2
    got = [tuple(r[c] for c in CANDLE_COLUMNS.split(", ")) for r in rows]
    assert got == [
        ("2024-03-01T10:00:00+00:00", 100.0, 110.0, 90.0, 90.0, 5.0, 520.0, 3, 104.0),
        ("2024-03-01T10:01:00+00:00", 200.0, 200.0, 200.0, 200.0, 2.0, 400.0, 1, 200.0),
    ]


def test_candle_interval_sets_the_bucket(known_lake: str, capsys) -> None:
    sql = f"SELECT {CANDLE_COLUMNS} FROM candles WHERE symbol = 'BTC-USD'"
    rows = query_json(capsys, sql, known_lake, "--candle-interval", "1 hour")
    got = [tuple(r[c] for c in CANDLE_COLUMNS.split(", ")) for r in rows]
    assert got == [("2024-03-01T10:00:00+00:00", 100.0, 200.0, 90.0, 200.0, 7.0, 920.0, 4,
                    920.0 / 7)]  # fmt: skip


@pytest.mark.parametrize("interval", ["fortnightly", "0 minutes"])
def test_a_bad_candle_interval_is_a_clear_error(known_lake: str, capsys, interval: str) -> None:
    code, out, err = run_cli(capsys, "query", "SELECT 1", "--output-uri", known_lake,
                             "--candle-interval", interval)  # fmt: skip
    assert code == 2
    assert out == ""
    assert "--candle-interval" in err
    assert interval in err


def test_raw_views_return_the_records_sent(known_lake: str, capsys) -> None:
    sql = "SELECT trade_id, price, size, time FROM raw_coinbase_trades ORDER BY trade_id"
    rows = query_json(capsys, sql, known_lake)
    assert [(r["trade_id"], r["price"], r["size"], r["time"]) for r in rows] == KNOWN_TRADES
    odd = query_json(capsys, f'SELECT n FROM "raw_{ODD_STREAM}" ORDER BY n', known_lake)
    assert odd == [{"n": 1}, {"n": 2}]
    # The Iceberg raw table (written with iceberg_raw_tables) is read when there is one; the
    # JSONL trail, with its ingest_date folders as a column, otherwise.
    columns = query_json(
        capsys, "SELECT column_name FROM (DESCRIBE raw_coinbase_trades)", known_lake
    )
    from_trail = {"column_name": "ingest_date"} in columns
    assert from_trail != Path(known_lake, "catalog.db").exists()


def _batch_message(uri: str, file_format: str) -> str:
    """A singer-sdk BATCH message of coinbase_trades pointing at one file."""
    encoding = {"format": file_format, "compression": "gzip" if file_format == "jsonl" else None}
    return json.dumps(
        {"type": "BATCH", "stream": "coinbase_trades", "encoding": encoding, "manifest": [uri]}
    )


@pytest.mark.parametrize("where", ["local", "s3"])
def test_raw_view_includes_the_trades_that_came_in_batch_files(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Trades 1-2 as RECORDs (the JSONL trail), 3-4 in a gzip JSONL and 5-6 in a Parquet batch
    # file (kept under raw_batches/); no Iceberg raw table, so the view reads the files.
    lines = [json.dumps(coinbase_record("BTC-USD", i)) + "\n" for i in (3, 4)]
    jsonl = tmp_path / "batch-3-4.json.gz"
    jsonl.write_bytes(gzip.compress("".join(lines).encode()))
    parquet = tmp_path / "batch-5-6.parquet"
    pq.write_table(pa.Table.from_pylist([coinbase_record("BTC-USD", i) for i in (5, 6)]), parquet)
    if where == "s3":
        output = make_s3_output(request.getfixturevalue("moto_endpoint"))
    else:
        output = make_local_output(tmp_path / "lake")
    run_in_process(
        output.config,
        [
            schema_line("coinbase_trades"),
            *(record_line("coinbase_trades", coinbase_record("BTC-USD", i)) for i in (1, 2)),
            _batch_message(jsonl.as_uri(), "jsonl"),
            _batch_message(parquet.as_uri(), "parquet"),
        ],
    )
    endpoint = ["--s3-endpoint-url", output.endpoint] if output.endpoint else []
    sql = "SELECT trade_id, price, ingest_date IS NOT NULL AS dated FROM raw_coinbase_trades"
    # In a process of its own: the moto server is a thread of this one, and DuckDB holds the
    # GIL while pyarrow opens a JSON file of the view, so in-process the GET would time out.
    cli = "import sys; from schemahub_core.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["query", sql + " ORDER BY trade_id", "--output-uri", output.uri, "--format", "json"]
    done = subprocess.run([sys.executable, "-c", cli, *argv, *endpoint],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"trade_id": i, "price": coinbase_record("BTC-USD", i)["price"], "dated": True}
        for i in range(1, 7)
    ]


def test_date_reads_as_a_date(known_lake: str, capsys) -> None:
    sql = "SELECT DISTINCT typeof(date) AS type, date FROM trades_unified"
    assert query_json(capsys, sql, known_lake) == [{"type": "DATE", "date": "2024-03-01"}]


def readme_example(language: str, marker: str) -> str:
    """The code block of target-s3-parquet's README in `language` that contains `marker`."""
    readme = Path(__file__).parents[2] / "target-s3-parquet" / "README.md"
    blocks = re.findall(rf"```{language}\n(.*?)```", readme.read_text(), flags=re.DOTALL)
    return next(block for block in blocks if marker in block)


@pytest.mark.parametrize("known_lake", ["hive"], indirect=True)  # the README reads Hive files
def test_the_readme_s_direct_reads_give_date_as_a_date(known_lake: str) -> None:
    sql = readme_example("sql", "read_parquet").replace("output/", f"{known_lake}/")
    sql = sql.replace("SELECT *", "SELECT DISTINCT typeof(date), date").rstrip().rstrip(";")
    assert duckdb.sql(sql).fetchall() == [("DATE", dt.date(2024, 3, 1))]
    code = readme_example("python", "ds.dataset").replace('"output/', f'"{known_lake}/')
    namespace: dict = {}
    exec(code, namespace)
    table = namespace["table"]
    assert table.schema.field("date").type == pa.date32()
    assert set(table.column("date").to_pylist()) == {dt.date(2024, 3, 1)}


def test_a_filter_on_candles_prunes_the_unified_scan(tmp_path: Path, capsys) -> None:
    """A corrupt file of another exchange is never opened: the view is not materialized."""
    write_vwap_fixture(pafs.LocalFileSystem(), str(tmp_path))
    broken = tmp_path / "unified/trades_unified/exchange=BINANCE/symbol=BTCUSDT/date=2024-03-01"
    (broken / "corrupt.parquet").write_bytes(b"not parquet")
    sql = "SELECT count(*) AS n FROM candles WHERE exchange = 'COINBASE'"
    assert query_json(capsys, sql, str(tmp_path)) == [{"n": 2}]  # two minutes
