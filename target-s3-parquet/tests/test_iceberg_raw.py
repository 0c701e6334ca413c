"""`iceberg_raw_tables`: schemahub.raw_<stream>, the records as sent, at least once."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from pyiceberg.exceptions import NoSuchTableError
from schemahub_core import iceberg as catalogs
from target_s3_parquet.iceberg_table import catalog_properties_for_target
from target_s3_parquet.synthetic import coinbase_record, trade_lines
from target_s3_parquet.testing import assert_exactly_once, read_unified, run_in_process


def _raw_table(config: dict, stream: str) -> pa.Table:
    catalog = catalogs.load_catalog(catalog_properties_for_target(config))
    return catalog.load_table((catalogs.NAMESPACE, f"raw_{stream}")).scan().to_arrow()


def test_raw_tables_hold_every_record_as_sent_at_least_once(iceberg_output):
    config = {**iceberg_output.config, "iceberg_raw_tables": True, "batch_size_rows": 500}
    run_in_process(config, trade_lines("coinbase_trades", "BTC-USD", 1, 1_200))
    run_in_process(config, trade_lines("coinbase_trades", "BTC-USD", 1_000, 1_500))  # replay

    raw = _raw_table(config, "coinbase_trades")
    ids = raw.column("trade_id").to_pylist()
    assert set(ids) == set(range(1, 1_501))  # every record, the replayed ones twice
    assert len(ids) == 1_200 + 501
    price = raw.schema.field("price").type  # a decimal string stays a string
    assert pa.types.is_string(price) or pa.types.is_large_string(price)
    sent = coinbase_record("BTC-USD", 7)
    row = raw.filter(pa.compute.equal(raw["trade_id"], 7)).slice(0, 1).to_pylist()[0]
    assert {k: row[k] for k in sent} == json.loads(json.dumps(sent))
    assert row["_sdc_extracted_at"]
    assert row["_sdc_received_at"]
    # The unified table is exactly once as always.
    assert_exactly_once(read_unified(iceberg_output), {("COINBASE", "BTC-USD"): range(1, 1_501)})


def test_no_raw_table_without_the_setting(iceberg_output):
    run_in_process(iceberg_output.config, trade_lines("coinbase_trades", "BTC-USD", 1, 10))
    with pytest.raises(NoSuchTableError, match="raw_coinbase_trades"):
        _raw_table(iceberg_output.config, "coinbase_trades")
