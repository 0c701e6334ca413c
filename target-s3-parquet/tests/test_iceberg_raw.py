"""`iceberg_raw_tables`: schemahub.raw_<stream>, the records as sent, at least once."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.exceptions import NoSuchTableError
from schemahub_core import iceberg as catalogs
from schemahub_core.iceberg import filesystem_path
from target_s3_parquet import snapshot_expiry
from target_s3_parquet.iceberg_raw import IcebergRawTables
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


def _gzipped_jsonl(first: int, last: int) -> bytes:
    lines = [
        {**coinbase_record("BTC-USD", i), "_sdc_extracted_at": None, "_sdc_received_at": "now"}
        for i in range(first, last + 1)
    ]
    return gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())


def test_old_raw_snapshots_are_expired_after_a_commit(iceberg_output):
    config = {**iceberg_output.config, "iceberg_raw_tables": True, "batch_size_rows": 100}
    run_in_process(config, trade_lines("coinbase_trades", "BTC-USD", 1, 300))
    catalog = catalogs.load_catalog(catalog_properties_for_target(config))
    identifier = (catalogs.NAMESPACE, "raw_coinbase_trades")
    table = catalog.load_table(identifier)
    assert table.properties[snapshot_expiry.KEEP_PROPERTY] == "100"
    old = table.metadata.snapshots
    assert len(old) == 3
    table.transaction().set_properties({snapshot_expiry.KEEP_PROPERTY: "1"}).commit_transaction()

    run_in_process(config, trade_lines("coinbase_trades", "BTC-USD", 301, 600))

    table = catalog.load_table(identifier)
    # 3 more commits: the first finds 4 snapshots (> 2 x 1 kept) and keeps only itself, etc.
    assert len(table.metadata.snapshots) <= 2
    assert not {s.snapshot_id for s in old} & {s.snapshot_id for s in table.metadata.snapshots}
    for snapshot in old:  # their manifest lists are deleted
        assert not Path(filesystem_path(snapshot.manifest_list)).exists()
    ids = table.scan().to_arrow().column("trade_id").to_pylist()
    assert sorted(ids) == list(range(1, 601))


def test_a_raw_append_that_loses_a_commit_race_is_rebuilt_on_the_winner(iceberg_output):
    config = {**iceberg_output.config, "iceberg_raw_tables": True}
    schema = json.loads(next(iter(trade_lines("coinbase_trades", "BTC-USD", 1, 1))))["schema"]
    first, second = IcebergRawTables(config), IcebergRawTables(config)
    first.append("coinbase_trades", schema, _gzipped_jsonl(1, 100))
    second.append("coinbase_trades", schema, _gzipped_jsonl(101, 200))
    # `first` still holds the table as it committed it: its next commit is refused, re-read.
    first.append("coinbase_trades", schema, _gzipped_jsonl(201, 300))

    table = _raw_table(config, "coinbase_trades")
    assert sorted(table.column("trade_id").to_pylist()) == list(range(1, 301))
    refreshed = first.tables["coinbase_trades"]
    listed = {m.manifest_path for m in refreshed.current_snapshot().manifests(refreshed.io)}
    metadata = Path(filesystem_path(refreshed.location())) / "metadata"
    manifests = {str(p) for p in metadata.glob("*-m*.avro")}
    # The losing attempt's manifest was removed: every manifest on disk is a live one.
    assert manifests == {filesystem_path(path) for path in listed}
