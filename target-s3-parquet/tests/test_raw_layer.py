"""The raw layer's JSONL: each record's exact bytes with the two `_sdc_` fields spliced in."""

from __future__ import annotations

import json

import pytest
from target_s3_parquet.raw_layer import jsonl_lines
from target_s3_parquet.synthetic import binance_record

RECEIVED_AT = "2026-11-25T21:00:00.000001+00:00"


@pytest.mark.parametrize("page", [1000, 7, 1], ids=["one run", "few runs", "a run per record"])
def test_every_record_gets_its_own_time_extracted_and_keeps_its_bytes(page):
    records = [json.dumps(binance_record("BTCUSDT", i)).encode() for i in range(1, 301)]
    stamps = [f"2026-06-19T16:{i // page % 60:02d}:00.{i // page:06d}+00:00" for i in range(300)]
    runs = [(i, stamps[i]) for i in range(300) if i == 0 or stamps[i] != stamps[i - 1]]
    lines = bytes(jsonl_lines(records, runs, RECEIVED_AT)).splitlines()
    assert len(lines) == 300
    for line, record, stamp in zip(lines, records, stamps, strict=True):
        assert line.startswith(record[:-1])  # the record's bytes, up to its closing brace
        assert json.loads(line) == {
            **json.loads(record),
            "_sdc_extracted_at": stamp,
            "_sdc_received_at": RECEIVED_AT,
        }
