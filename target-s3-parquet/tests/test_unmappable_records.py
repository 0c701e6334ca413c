"""A record that fits its stream's SCHEMA but whose values the mapping cannot convert (a side
that is neither buy nor sell, a time that is not RFC 3339): quarantined with the reason, or a
clear error naming the stream, line and record."""

from __future__ import annotations

import gzip
import json

import pytest
from target_s3_parquet.pipeline import MappingMismatchError
from target_s3_parquet.synthetic import coinbase_record, record_line, state_line, trade_lines
from target_s3_parquet.testing import assert_exactly_once, read_unified, run_in_process, watermark


def _record(trade_id: int, **changes: str) -> str:
    record = coinbase_record("BTC-USD", trade_id)
    record.update(changes)
    return record_line("coinbase_trades", record)


def test_quarantine_sets_unmappable_records_aside_and_commits_the_rest(local_output):
    # Lines: 1 SCHEMA, 2-41 trades 1-40, then 42..47 below.
    lines = [
        *trade_lines("coinbase_trades", "BTC-USD", 1, 40),
        _record(41, side="sideways"),
        _record(42),
        _record(43, time="yesterday at noon"),
        _record(44, side="SELL!"),
        _record(45),
        _record(46, time="2026-06-19 00:00:00"),  # a space, not RFC 3339's 'T'
    ]
    run_in_process({**local_output.config, "on_invalid_record": "quarantine"}, lines)

    good = [*range(1, 41), 42, 45]
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): good})
    [rejects] = local_output.local_root.glob("rejects/coinbase_trades/*/*.jsonl.gz")
    entries = [json.loads(x) for x in gzip.decompress(rejects.read_bytes()).splitlines()]
    assert [e["input_line"] for e in entries] == [42, 44, 45, 47]
    assert [json.loads(e["record_json"])["trade_id"] for e in entries] == [41, 43, 44, 46]
    reasons = [e["reason"] for e in entries]
    assert "'side'" in reasons[0]
    assert "sideways" in reasons[0]
    assert "'trade_ts'" in reasons[1]
    assert "yesterday at noon" in reasons[1]
    assert "SELL!" in reasons[2]
    assert "2026-06-19 00:00:00" in reasons[3]
    # The raw layer holds the records that were committed, not the ones set aside.
    [raw] = local_output.local_root.glob("raw/coinbase_trades/*/*.jsonl.gz")
    raw_ids = [json.loads(x)["trade_id"] for x in gzip.decompress(raw.read_bytes()).splitlines()]
    assert raw_ids == good


def test_quarantine_of_a_batch_with_only_unmappable_records_commits_nothing(local_output):
    lines = [next(trade_lines("coinbase_trades", "BTC-USD", 1, 1))]
    lines += [_record(i, side="up") for i in range(1, 201)]
    lines.append(state_line("coinbase_trades", "BTC-USD", 200))
    states = run_in_process({**local_output.config, "on_invalid_record": "quarantine"}, lines)
    assert watermark(states[-1], "coinbase_trades") == 200
    assert read_unified(local_output).num_rows == 0
    [rejects] = local_output.local_root.glob("rejects/coinbase_trades/*/*.jsonl.gz")
    assert len(gzip.decompress(rejects.read_bytes()).splitlines()) == 200


def test_fail_mode_names_the_stream_line_and_record_and_keeps_committed_data(local_output):
    config = {**local_output.config, "batch_size_rows": 100}
    lines = [
        *trade_lines("coinbase_trades", "BTC-USD", 1, 300),
        state_line("coinbase_trades", "BTC-USD", 300),
        _record(301),
        _record(302, side="sideways"),
    ]
    relayed: list[dict] = []
    with pytest.raises(MappingMismatchError) as error:
        run_in_process(config, lines, states=relayed)
    message = str(error.value)
    assert "stream 'coinbase_trades', input line 304" in message
    assert "sideways" in message
    assert '"trade_id": 302' in message
    assert "on_invalid_record: quarantine" in message
    assert relayed
    assert all(watermark(s, "coinbase_trades") <= 300 for s in relayed)
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 301)})
