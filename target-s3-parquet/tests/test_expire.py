"""`schemahub expire`: old snapshots go, unreferenced old files go, everything live stays."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from schemahub_core import iceberg as catalogs
from schemahub_core.cli import main
from schemahub_core.iceberg import filesystem_path
from target_s3_parquet.compact import Compactor
from target_s3_parquet.expire import referenced_files
from target_s3_parquet.iceberg_table import IcebergUnifiedTable
from target_s3_parquet.maintenance import Selection
from target_s3_parquet.synthetic import trade_lines
from target_s3_parquet.testing import make_s3_output, read_iceberg, run_in_process, unified_rows

KEY = ["exchange", "symbol", "trade_id"]


def fragmented_then_compacted(config: dict) -> IcebergUnifiedTable:
    """A table of 4 commits, then compacted: the 4 first files are referenced by old snapshots."""
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    for first in range(1, 801, 200):
        writer.commit("BINANCE", "BTCUSDT", unified_rows(range(first, first + 200)))
    Compactor(writer.table.refresh(), 1 << 20).compact(Selection())
    writer.table.refresh()
    return writer


def files_under(root: Path) -> dict[str, int]:
    """Every file under `root` with its size."""
    return {str(p): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def test_expire_removes_only_old_unreferenced_files_and_the_table_reads_the_same(
    iceberg_output, capsys
):
    writer = fragmented_then_compacted(iceberg_output.config)
    location = Path(filesystem_path(writer.table.location()))
    rows = read_iceberg(iceberg_output.config).sort_by([(k, "ascending") for k in KEY])
    two_hours_ago = time.time() - 7200
    for path in files_under(location):
        os.utime(path, (two_hours_ago, two_hours_ago))
    some_data_file = next((location / "data").rglob("*.parquet"))
    shutil.copy(some_data_file, location / "data" / "orphan-of-a-commit-in-flight.parquet")
    before = files_under(location)
    args = ["expire", "--output-uri", iceberg_output.uri, "--older-than", "0s", "--keep", "1"]

    assert main([*args, "--grace", "1h", "--dry-run", "--json"]) == 0
    [planned] = json.loads(capsys.readouterr().out)["tables"]
    assert files_under(location) == before
    assert len(writer.table.refresh().metadata.snapshots) == 5

    assert main([*args, "--grace", "1h", "--json"]) == 0
    [report] = json.loads(capsys.readouterr().out)["tables"]
    assert report["files_removed"] == planned["files_removed"]
    assert len(report["snapshots_expired"]) == 4
    table = writer.table.refresh()
    assert len(table.metadata.snapshots) == 1
    removed = set(report["files_removed"])
    assert not removed & referenced_files(table, set())
    assert not removed & set(files_under(location))
    # The 4 data files only the expired snapshots read, and their manifests, are gone.
    assert sum(p.endswith(".parquet") for p in removed) == 4
    assert any(p.endswith(".avro") for p in removed)
    assert report["bytes_freed"] == sum(before[p] for p in removed)
    assert (location / "data" / "orphan-of-a-commit-in-flight.parquet").exists()
    assert report["unreferenced_in_grace"] == 1
    assert read_iceberg(iceberg_output.config).sort_by([(k, "ascending") for k in KEY]).equals(rows)


@pytest.mark.slow
def test_expire_on_s3_removes_unreferenced_files_and_keeps_the_table(moto_endpoint, tmp_path):
    output = make_s3_output(moto_endpoint, "iceberg", tmp_path)
    writer = fragmented_then_compacted(output.config)
    rows = read_iceberg(output.config).sort_by([(k, "ascending") for k in KEY])
    keys_before = set(output.keys())
    argv = ["expire", "--output-uri", output.uri, "--older-than", "0s", "--keep", "1"]
    argv += ["--grace", "0s", "--s3-endpoint-url", moto_endpoint, "--iceberg-catalog"]
    assert main([*argv, json.dumps(output.config["iceberg_catalog"])]) == 0
    gone = keys_before - set(output.keys())
    assert sum(key.endswith(".parquet") for key in gone) == 4
    _, root = output.filesystem_and_root
    assert not {f"{root}/{key}" for key in gone} & referenced_files(writer.table.refresh(), set())
    assert read_iceberg(output.config).sort_by([(k, "ascending") for k in KEY]).equals(rows)


def test_expire_cleans_every_schemahub_table_and_reports_each(iceberg_output, capsys):
    config = {
        **iceberg_output.config,
        "iceberg_raw_tables": True,
        "batch_size_rows": 100,
        "iceberg_commit_rows": 100,  # a snapshot per batch: three in each table
    }
    run_in_process(config, list(trade_lines("coinbase_trades", "BTC-USD", 1, 300)))
    catalog = catalogs.load_catalog(catalogs.catalog_properties(iceberg_output.uri, None))
    raw = catalog.load_table((catalogs.NAMESPACE, "raw_coinbase_trades"))
    raw_rows = raw.scan().to_arrow().sort_by("trade_id")
    assert len(raw.metadata.snapshots) == 3
    raw_location = Path(filesystem_path(raw.location()))
    two_hours_ago = time.time() - 7200
    for path in files_under(raw_location.parent):  # both tables' files
        os.utime(path, (two_hours_ago, two_hours_ago))
    args = ["expire", "--output-uri", iceberg_output.uri, "--older-than", "0s", "--keep", "1"]

    assert main([*args, "--grace", "1h", "--json"]) == 0

    raw = raw.refresh()
    assert len(raw.metadata.snapshots) == 1
    reports = {r["table"]: r for r in json.loads(capsys.readouterr().out)["tables"]}
    assert sorted(reports) == ["raw_coinbase_trades", "trades_unified"]
    assert len(reports["raw_coinbase_trades"]["snapshots_expired"]) == 2
    removed = reports["raw_coinbase_trades"]["files_removed"]
    assert removed  # the manifest lists of the expired snapshots
    assert all(path.startswith(str(raw_location)) for path in removed)
    assert not set(removed) & referenced_files(raw, set())
    assert raw.scan().to_arrow().sort_by("trade_id").equals(raw_rows)


def test_expire_table_option_cleans_only_that_table(iceberg_output, capsys):
    config = {
        **iceberg_output.config,
        "iceberg_raw_tables": True,
        "batch_size_rows": 100,
        "iceberg_commit_rows": 100,  # a snapshot per batch: two in each table
    }
    run_in_process(config, list(trade_lines("coinbase_trades", "BTC-USD", 1, 200)))
    args = ["expire", "--output-uri", iceberg_output.uri, "--older-than", "0s", "--keep", "1"]

    assert main([*args, "--table", "raw_coinbase_trades", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)["tables"]

    assert [r["table"] for r in reports] == ["raw_coinbase_trades"]
    unified = catalogs.load_catalog(catalogs.catalog_properties(iceberg_output.uri, None))
    assert len(unified.load_table(catalogs.UNIFIED_IDENTIFIER).metadata.snapshots) == 2
    assert main([*args, "--table", "ticks"]) == 2
    assert "no SchemaHub table 'ticks'" in capsys.readouterr().err
