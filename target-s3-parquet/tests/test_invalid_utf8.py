"""A record holding invalid UTF-8 is rejected like any other invalid record, on every path
the reader takes, and never reaches a file that DuckDB or pyarrow cannot read back."""

from __future__ import annotations

import gzip
import json

import duckdb
import pytest
from target_s3_parquet import input_blocks
from target_s3_parquet.reader import BatchedSingerReader
from target_s3_parquet.records import RecordError
from target_s3_parquet.synthetic import coinbase_record, record_line, state_line, trade_lines
from target_s3_parquet.testing import (
    assert_exactly_once,
    read_unified,
    run_in_process,
    watermark,
)

BAD_ID = 250  # on input line 251 (line 1 is the SCHEMA)


def _input(blank_line_before_bad: bool = False) -> list[str | bytes]:
    """300 trades whose trade 250 has invalid UTF-8 inside its 'base_asset' string (a column
    trades_unified stores as it is)."""
    lines: list[str | bytes] = list(trade_lines("coinbase_trades", "BTC-USD", 1, BAD_ID - 1))
    bad = record_line("coinbase_trades", coinbase_record("BTC-USD", BAD_ID)).encode()
    bad = bad.replace(b'"base_asset": "BTC"', b'"base_asset": "B\xff\xfeTC"')
    assert b"\xff" in bad
    if blank_line_before_bad:
        lines.append("")  # the block cannot be decoded as one array: read line by line
    lines.append(bad)
    lines += [
        record_line("coinbase_trades", coinbase_record("BTC-USD", i)) for i in range(251, 301)
    ]
    lines.append(state_line("coinbase_trades", "BTC-USD", 300))
    return lines


@pytest.fixture(params=["cut", "decoded", "line-by-line"])
def reader_path(request, monkeypatch) -> str:
    """The reader path the bad record takes: cut by layout, msgspec array, line by line."""
    monkeypatch.setattr(input_blocks, "READ_SIZE", 4096)  # many blocks of a few lines
    if request.param != "cut":
        monkeypatch.setattr(BatchedSingerReader, "_cut_block", lambda *args: False)
    return request.param


def _duckdb_rows(output) -> int:
    glob = f"{output.local_root}/unified/trades_unified/**/*.parquet"
    return (
        duckdb.connect()
        .execute(
            f"SELECT count(*), max(length(base_asset)) FROM read_parquet('{glob}', "
            f"hive_partitioning = true)"
        )
        .fetchone()[0]
    )


def test_invalid_utf8_fails_naming_stream_line_and_field(local_output, reader_path):
    config = {**local_output.config, "batch_size_rows": 100}
    relayed: list[dict] = []
    lines = _input(blank_line_before_bad=reader_path == "line-by-line")
    bad_line = 251 + (reader_path == "line-by-line")
    with pytest.raises(RecordError) as error:
        run_in_process(config, lines, states=relayed)
    message = str(error.value)
    assert f"stream 'coinbase_trades', input line {bad_line}" in message
    assert "field 'base_asset'" in message
    assert "not valid UTF-8" in message
    assert all(watermark(s, "coinbase_trades") < BAD_ID for s in relayed)
    assert _duckdb_rows(local_output) == 200  # the two batches committed before it
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 201)})


def test_invalid_utf8_is_quarantined_and_the_rest_of_its_file_stays_readable(
    local_output, reader_path
):
    config = {**local_output.config, "on_invalid_record": "quarantine"}
    lines = _input(blank_line_before_bad=reader_path == "line-by-line")
    states = run_in_process(config, lines)
    assert watermark(states[-1], "coinbase_trades") == 300
    good = [i for i in range(1, 301) if i != BAD_ID]
    assert _duckdb_rows(local_output) == 299
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): good})
    [rejects] = local_output.local_root.glob("rejects/coinbase_trades/*/*.jsonl.gz")
    [entry] = [json.loads(x) for x in gzip.decompress(rejects.read_bytes()).splitlines()]
    assert entry["input_line"] == 251 + (reader_path == "line-by-line")
    assert "field 'base_asset'" in entry["reason"]
    assert "not valid UTF-8" in entry["reason"]
    [raw] = local_output.local_root.glob("raw/coinbase_trades/*/*.jsonl.gz")
    raw_ids = [json.loads(x)["trade_id"] for x in gzip.decompress(raw.read_bytes()).splitlines()]
    assert raw_ids == good  # the raw layer (read as UTF-8 JSON here) holds the rest
