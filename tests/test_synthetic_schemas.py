"""The target's synthetic input (tests, benchmarks) speaks exactly the taps' SCHEMA messages.

target_s3_parquet.synthetic keeps its own copies of the taps' schemas, because the target must
not depend on a tap; this cross-package test proves the copies equal the taps' own.
"""

from __future__ import annotations

import json

import pytest
from singer_sdk import Stream
from tap_binance.streams import TradesStream as BinanceTrades
from tap_coinbase.streams import TradesStream as CoinbaseTrades
from target_s3_parquet.synthetic import schema_line


@pytest.mark.parametrize("stream_class", [CoinbaseTrades, BinanceTrades], ids=lambda c: c.name)
def test_synthetic_schema_message_equals_the_taps(stream_class: type[Stream]):
    message = json.loads(schema_line(stream_class.name))
    assert message["schema"] == stream_class.schema
    assert message["key_properties"] == list(stream_class.primary_keys)
