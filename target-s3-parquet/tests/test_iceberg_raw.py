"""`iceberg_raw_tables`: schemahub.raw_<stream>, the records as sent, at least once."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.exceptions import NoSuchTableError
from schemahub_core import iceberg as catalogs
from schemahub_core.iceberg import filesystem_path
from schemahub_core.testing import run_at_once
from target_s3_parquet import snapshot_expiry
from target_s3_parquet.iceberg_raw import IcebergRawTables, raw_schema
from target_s3_parquet.iceberg_table import catalog_properties_for_target
from target_s3_parquet.synthetic import COINBASE_SCHEMA, coinbase_record, trade_lines
from target_s3_parquet.testing import (
    assert_exactly_once,
    make_local_output,
    read_unified,
    run_in_process,
)


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


def _rows(first: int, last: int) -> pa.Table:
    return pa.Table.from_pylist([coinbase_record("BTC-USD", i) for i in range(first, last + 1)])


def test_old_raw_snapshots_are_expired_after_a_commit(iceberg_output):
    config = {
        **iceberg_output.config,
        "iceberg_raw_tables": True,
        "batch_size_rows": 100,
        "iceberg_commit_rows": 100,  # an append per batch
    }
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

    def append(tables: IcebergRawTables, rows: pa.Table) -> None:
        tables.commit("coinbase_trades", [tables.write("coinbase_trades", schema, rows, "now")])

    append(first, _rows(1, 100))
    append(second, _rows(101, 200))
    # `first` still holds the table as it committed it: its next commit is refused, re-read.
    append(first, _rows(201, 300))

    table = _raw_table(config, "coinbase_trades")
    assert sorted(table.column("trade_id").to_pylist()) == list(range(1, 301))
    refreshed = first.tables["coinbase_trades"]
    listed = {m.manifest_path for m in refreshed.current_snapshot().manifests(refreshed.io)}
    metadata = Path(filesystem_path(refreshed.location())) / "metadata"
    manifests = {str(p) for p in metadata.glob("*-m*.avro")}
    # The losing attempt's manifest was removed: every manifest on disk is a live one.
    assert manifests == {filesystem_path(path) for path in listed}


def test_raw_table_rows_equal_the_raw_trail_when_records_are_set_aside(iceberg_output):
    def line(trade_id: int, extracted: str | None, **changes: object) -> str:
        record = {**coinbase_record("BTC-USD", trade_id), **changes}
        message = {"type": "RECORD", "stream": "coinbase_trades", "record": record}
        if extracted is not None:
            message["time_extracted"] = extracted
        return json.dumps(message)

    lines = [
        next(iter(trade_lines("coinbase_trades", "BTC-USD", 1, 1))),  # the SCHEMA
        *(line(i, "2026-06-19T10:00:00+00:00") for i in range(1, 6)),
        line(6, "2026-06-19T10:00:00+00:00", side="sideways"),  # the mapping refuses it
        *(line(i, None) for i in range(7, 10)),
        line(10, None, size=12),  # not a string: the SCHEMA refuses it
        *(line(i, "2026-06-19T11:00:00+00:00") for i in range(11, 14)),
    ]
    config = {
        **iceberg_output.config,
        "iceberg_raw_tables": True,
        "on_invalid_record": "quarantine",
    }
    run_in_process(config, lines)

    [trail] = iceberg_output.local_root.glob("raw/coinbase_trades/*/*.jsonl.gz")
    expected = [json.loads(x) for x in gzip.decompress(trail.read_bytes()).splitlines()]
    assert [r["trade_id"] for r in expected] == [1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13]
    table = _raw_table(config, "coinbase_trades")
    assert table.to_pylist() == expected  # every field, both _sdc_ fields, in order


def _append_to_a_new_raw_table(barrier: Any, config: dict) -> None:
    tables = IcebergRawTables(config)
    schema = raw_schema("coinbase_trades", COINBASE_SCHEMA)
    rows = schema.empty_table().drop_columns(["_sdc_extracted_at", "_sdc_received_at"])
    barrier.wait()  # every process reaches the namespace's and table's check-then-create at once
    written = tables.write("coinbase_trades", COINBASE_SCHEMA, rows, "2026-12-01T00:00:00+00:00")
    tables.commit("coinbase_trades", [written])


def test_writers_creating_a_raw_table_at_once_all_succeed(tmp_path):
    # Shards of one backfill start together: the losers of pyiceberg's check-then-insert
    # (namespace, table) must load what the winner created instead of failing.
    for round_ in range(3):
        output = make_local_output(tmp_path / str(round_), "iceberg")
        config = {**output.config, "iceberg_raw_tables": True}
        catalogs.load_catalog(catalog_properties_for_target(config))  # the catalog exists

        assert run_at_once(_append_to_a_new_raw_table, config, processes=6) == [0] * 6
        assert _raw_table(config, "coinbase_trades").num_rows == 0
