"""Names from the input become folder names: none escapes output_uri, every one reads back.

Stream names, exchanges and symbols are percent-encoded into path segments (schemahub_core.paths),
so a hostile or odd name can neither leave the output root nor change what a reader sees.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import duckdb
import pytest
from schemahub_core.cli import main as schemahub
from schemahub_core.paths import OutputUriError, PathSegmentError
from target_s3_parquet.storage import StorageError, open_storage
from target_s3_parquet.synthetic import (
    binance_record,
    record_line,
    schema_line,
    trade_lines,
)
from target_s3_parquet.testing import (
    Output,
    assert_exactly_once,
    make_s3_output,
    read_unified,
    run_in_process,
)

# Each would be misread, merged with another, or escape the folder if written unencoded.
ODD_SYMBOLS = [
    "BTC-USD",
    "BTC%2DUSD",  # decodes to BTC-USD if '%' is not itself encoded
    "A=B",  # a second '=' breaks DuckDB's hive read
    "a\nb",
    "a\\b",
    "x/y",
    "..",
    "__x__",
    "é€ 😀",
    "+ #?*[]{}:",
]
IDS = range(1, 21)


def _everything_outside_the_root(output: Output, tmp_path: Path) -> list[str]:
    """Every object or file written outside the output root (the folder's parent, the bucket)."""
    if output.local_root is not None:
        return sorted(
            str(p)
            for p in tmp_path.rglob("*")
            if p.is_file()
            and not p.is_relative_to(output.local_root)
            and not p.name.startswith("config-")
        )
    bucket, root = output.uri.removeprefix("s3://").split("/", 1)
    listed = boto3.client("s3", endpoint_url=output.endpoint).list_objects_v2(Bucket=bucket)
    return sorted(
        o["Key"] for o in listed.get("Contents", []) if not o["Key"].startswith(root + "/")
    )


def _table_top_level_entries(output: Output) -> set[str]:
    """The root entries the unified table itself owns (an Iceberg table exists from the start)."""
    if output.config.get("table_format") == "hive":
        return {"unified"}
    catalog_file = {"catalog.db"} if "iceberg_catalog" not in output.config else set()
    return {"schemahub", *catalog_file}  # the warehouse folder of namespace `schemahub`


def _odd_stream_lines(stream: str) -> list[str]:
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    return [
        json.dumps({"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": []}),
        record_line(stream, {"id": 1}),
        record_line(stream, {"id": "not an integer"}),
    ]


def test_stream_named_like_a_path_writes_raw_and_rejects_under_the_root(output, tmp_path):
    config = {**output.config, "on_invalid_record": "quarantine"}
    run_in_process(config, _odd_stream_lines("../../X"))

    assert _everything_outside_the_root(output, tmp_path) == []
    table_entries = _table_top_level_entries(output)
    every_key = output.keys()
    keys = [key for key in every_key if key.split("/")[0] not in table_entries]
    assert {key.split("/")[0] for key in keys} == {"raw", "rejects"}
    assert {key.split("/")[1] for key in keys} == {"..%2F..%2FX"}


@pytest.mark.parametrize("stream", ["..", ".", "a/b", "\\..\\x"])
def test_stream_names_that_are_path_syntax_stay_one_folder_under_raw(local_output, stream):
    run_in_process(local_output.config, _odd_stream_lines(stream)[:2])
    keys = local_output.keys()
    assert len(keys) == 1
    assert keys[0].startswith("raw/")
    assert len(keys[0].split("/")) == 4  # raw/<stream>/ingest_date=.../<file>


def test_empty_stream_name_is_refused_with_a_clear_error(local_output):
    with pytest.raises(PathSegmentError, match=r"stream name '' is empty"):
        run_in_process(local_output.config, _odd_stream_lines(""))
    assert local_output.keys() == []


def test_null_byte_in_a_stream_name_is_named_in_the_error(local_output):
    with pytest.raises(PathSegmentError, match=r"stream name 'a\\x00b' contains a null byte"):
        run_in_process(local_output.config, _odd_stream_lines("a\x00b"))


def test_null_byte_in_a_symbol_is_named_in_the_error(local_output):
    lines = trade_lines("binance_trades", "BTC\x00USDT", 1, 3)
    with pytest.raises(PathSegmentError, match=r"symbol 'BTC\\x00USDT' contains a null byte"):
        run_in_process(local_output.config, lines)
    assert local_output.keys("unified") == []


def _odd_symbol_lines() -> list[str]:
    lines = [schema_line("binance_trades")]
    for symbol in ODD_SYMBOLS:
        lines += [record_line("binance_trades", binance_record(symbol, i)) for i in IDS]
    return lines


def _location(output: Output) -> list[str]:
    """The reader options naming where `output`'s table is (endpoint, catalog)."""
    options = ["--output-uri", output.uri]
    if output.endpoint:
        options += ["--s3-endpoint-url", output.endpoint]
    if "iceberg_catalog" in output.config:
        options += ["--iceberg-catalog", json.dumps(output.config["iceberg_catalog"])]
    return options


def _query(output: Output, capsys, sql: str) -> list[dict]:
    code = schemahub(["query", sql, "--format", "json", *_location(output)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def _check(output: Output, capsys) -> dict:
    code = schemahub(["check", "--json", "--max-age", "off", *_location(output)])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 0, (captured.err, report["problems"])
    return report


def test_every_symbol_reads_back_exactly_in_pyarrow_query_and_check(output, tmp_path, capsys):
    run_in_process(output.config, _odd_symbol_lines())

    assert _everything_outside_the_root(output, tmp_path) == []
    expected = {("BINANCE", symbol): IDS for symbol in ODD_SYMBOLS}
    assert_exactly_once(read_unified(output), expected)
    rows = _query(output, capsys, "SELECT symbol, count(*) AS n FROM trades_unified GROUP BY ALL")
    assert {r["symbol"]: r["n"] for r in rows} == dict.fromkeys(ODD_SYMBOLS, len(IDS))
    report = _check(output, capsys)
    assert sorted(s["symbol"] for s in report["symbols"]) == sorted(ODD_SYMBOLS)
    assert all(s["duplicate_trade_ids"] == 0 for s in report["symbols"])


def test_every_symbol_reads_back_exactly_in_duckdb_hive_read(local_output):
    run_in_process(local_output.config, _odd_symbol_lines())
    glob = f"{local_output.local_root}/unified/trades_unified/**/*.parquet"
    # hive_types: DuckDB would otherwise guess a type per partition key (a symbol "7" as BIGINT).
    rows = duckdb.sql(
        f"SELECT symbol, count(*), count(DISTINCT trade_id) FROM read_parquet('{glob}', "
        f"hive_partitioning = true, hive_types = {{'exchange': 'VARCHAR', 'symbol': 'VARCHAR'}}) "
        f"GROUP BY ALL"
    ).fetchall()
    assert sorted(rows) == sorted((s, len(IDS), len(IDS)) for s in ODD_SYMBOLS)


def test_a_rerun_of_odd_symbols_commits_nothing_twice(local_output):
    run_in_process(local_output.config, _odd_symbol_lines())
    run_in_process(local_output.config, _odd_symbol_lines())
    assert_exactly_once(
        read_unified(local_output), {("BINANCE", symbol): IDS for symbol in ODD_SYMBOLS}
    )


def test_symbol_too_long_for_a_file_name_is_a_clear_error(output):
    symbol = "S" * 300
    with pytest.raises(
        PathSegmentError, match=r"symbol 'S{20}.*is too long for a file or folder name.*255"
    ):
        run_in_process(output.config, trade_lines("binance_trades", symbol, 1, 3))
    assert output.keys("unified") == []


@pytest.mark.parametrize("path", ["q?x=1#f", "/a//b/", "../x"])
def test_output_uris_schemahub_check_cannot_read_are_refused_before_writing(moto_endpoint, path):
    output = make_s3_output(moto_endpoint)
    bucket = output.uri.removeprefix("s3://").split("/")[0]
    config = {**output.config, "output_uri": f"s3://{bucket}/{path}"}
    with pytest.raises(OutputUriError, match=r"query string or fragment|'\.\.' path segment"):
        run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1, 3))
    listed = boto3.client("s3", endpoint_url=moto_endpoint).list_objects_v2(Bucket=bucket)
    assert listed.get("Contents", []) == []


def test_storage_refuses_a_key_that_would_leave_the_root(storage_output):
    output = storage_output
    storage = open_storage(output.uri, output.config)
    for key in ("../escaped", "raw/../../escaped", "/escaped", "raw//x", "raw/./x"):
        with pytest.raises(StorageError, match="could point outside output_uri"):
            storage.put(key, b"data")
    assert output.keys() == []
