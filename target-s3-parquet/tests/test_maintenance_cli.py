"""What `schemahub compact`, `rebuild` and `expire` share: the Hive refusal, the race rules."""

from __future__ import annotations

import pytest
from schemahub_core.cli import main
from target_s3_parquet import maintenance
from target_s3_parquet.iceberg_table import IcebergUnifiedTable
from target_s3_parquet.synthetic import trade_lines
from target_s3_parquet.testing import make_local_output, read_iceberg, run_in_process

DAY = ["--exchange", "BINANCE", "--symbol", "BTCUSDT", "--from", "2026-06-19", "--to", "2026-06-19"]


@pytest.mark.parametrize(
    "argv", [["compact"], ["rebuild", *DAY], ["expire"]], ids=lambda argv: argv[0]
)
def test_maintenance_refuses_a_hive_table_naming_migrate(tmp_path, capsys, argv):
    hive = make_local_output(tmp_path / "lake", "hive")
    run_in_process(hive.config, trade_lines("binance_trades", "BTCUSDT", 1, 100))
    assert main([*argv, "--output-uri", hive.uri]) == 2
    error = capsys.readouterr().err
    assert f"schemahub {argv[0]}: " in error
    assert "Hive-layout" in error
    assert "schemahub migrate" in error


def test_rebuild_gives_up_when_an_ingest_commits_meanwhile_and_changes_nothing(
    iceberg_output, capsys, monkeypatch
):
    config = {**iceberg_output.config, "batch_size_rows": 500}
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1, 1_000))
    ingest = IcebergUnifiedTable.open(config, compression="zstd")
    real_replace = maintenance.replace_files

    def ingest_commits_first(table, deleted, added, operation):
        run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1_001, 1_100))
        return real_replace(table, deleted, added, operation)

    monkeypatch.setattr(maintenance, "replace_files", ingest_commits_first)
    before_files = {t.file.file_path for t in ingest.table.scan().plan_files()}
    assert main(["rebuild", "--output-uri", iceberg_output.uri, *DAY]) == 2
    assert "another writer committed" in capsys.readouterr().err
    after_files = {t.file.file_path for t in ingest.table.refresh().scan().plan_files()}
    assert before_files < after_files  # only the ingest's new files were added
    assert read_iceberg(config).num_rows == 1_100
    written_dir = {str(p) for p in (iceberg_output.local_root / "schemahub").rglob("*.parquet")}
    assert {f.removeprefix("file://") for f in after_files} == written_dir  # ours removed
