"""The Iceberg trades_unified: races on the SQL catalog, lost commit responses, time travel."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException
from schemahub_core.iceberg import CatalogNotConfiguredError
from target_s3_parquet import iceberg_table
from target_s3_parquet.iceberg_table import (
    IcebergCommitError,
    IcebergUnifiedTable,
    committed_ranges,
    decode_ranges,
    encode_ranges,
)
from target_s3_parquet.synthetic import state_line, trade_lines
from target_s3_parquet.target import TargetS3Parquet
from target_s3_parquet.testing import (
    assert_exactly_once,
    read_iceberg,
    run_in_process,
    unified_rows,
)
from target_s3_parquet.unified import Part


class RacedTable(IcebergUnifiedTable):
    """Lets a rival writer commit the same ids right before this writer's first commit."""

    rival: IcebergUnifiedTable | None = None
    rival_rows: pa.Table | None = None
    conflicts = 0

    def _commit_files(self, *args, **kwargs) -> None:
        if self.rival is not None and self.rival_rows is not None:
            rival, self.rival = self.rival, None
            rival.commit("BINANCE", "BTCUSDT", self.rival_rows)
        try:
            super()._commit_files(*args, **kwargs)
        except CommitFailedException:
            self.conflicts += 1
            raise


def test_two_writers_racing_on_the_same_ids_commit_each_trade_once(iceberg_output):
    config = iceberg_output.config
    writer = RacedTable.open(config, compression="zstd")
    writer.rival = IcebergUnifiedTable.open(config, compression="zstd")
    writer.rival_rows = unified_rows(range(1, 101))
    result = writer.commit("BINANCE", "BTCUSDT", unified_rows(range(50, 151)))
    assert writer.conflicts == 1
    assert (result.rows_written, result.rows_already_committed) == (50, 51)
    assert_exactly_once(read_iceberg(config), {("BINANCE", "BTCUSDT"): range(1, 151)})
    assert committed_ranges(writer.table) == {("BINANCE", "BTCUSDT"): [(1, 150)]}


def test_parts_racing_a_rival_writer_commit_each_trade_once(iceberg_output):
    config = iceberg_output.config
    writer = RacedTable.open(config, compression="zstd")
    writer.rival = IcebergUnifiedTable.open(config, compression="zstd")
    writer.rival_rows = unified_rows(range(150, 351))  # lands between our refresh and commit
    parts = [
        Part(unified_rows(range(1, 101)), True),
        Part(unified_rows(range(101, 201)), True),
        Part(unified_rows(range(300, 401)), True),
    ]

    result = writer.commit_parts("BINANCE", "BTCUSDT", parts)

    assert writer.conflicts == 1
    assert (result.rows_written, result.rows_already_committed) == (149 + 50, 51 + 51)
    assert_exactly_once(read_iceberg(config), {("BINANCE", "BTCUSDT"): range(1, 401)})
    assert committed_ranges(writer.table) == {("BINANCE", "BTCUSDT"): [(1, 400)]}
    # The files written for the refused attempt (holding 150-200, 300-350) were deleted.
    referenced = {Path(task.file.file_path).name for task in writer.table.scan().plan_files()}
    assert {p.name for p in iceberg_output.local_root.rglob("*.parquet")} == referenced


def test_pyiceberg_commit_retry_is_off_on_our_table(iceberg_output):
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    # pyiceberg's retry re-applies the same append without re-reading the ranges.
    assert writer.table.properties["commit.retry.num-retries"] == "0"


def test_a_commit_whose_response_was_lost_counts_once(iceberg_output, monkeypatch):
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    catalog = writer.table.catalog
    real_commit = catalog.commit_table
    lost = []

    def commit_then_lose_the_answer(*args, **kwargs):
        response = real_commit(*args, **kwargs)
        if not lost:
            lost.append(True)
            raise ConnectionError("connection reset while reading the commit response")
        return response

    monkeypatch.setattr(catalog, "commit_table", commit_then_lose_the_answer)
    result = writer.commit("BINANCE", "BTCUSDT", unified_rows(range(1, 101)))
    assert lost
    assert result.rows_written == 100  # recognised as ours, not "already committed"
    monkeypatch.undo()
    assert len(writer.table.refresh().metadata.snapshots) == 1
    assert_exactly_once(
        read_iceberg(iceberg_output.config), {("BINANCE", "BTCUSDT"): range(1, 101)}
    )


def test_a_catalog_refusing_commits_fails_naming_table_and_catalog(iceberg_output, monkeypatch):
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    monkeypatch.setattr(iceberg_table, "MAX_ATTEMPTS", 2)
    monkeypatch.setattr(iceberg_table.time, "sleep", lambda _s: None)

    def locked(*_args, **_kwargs):
        raise OSError("database is locked")

    monkeypatch.setattr(writer.table.catalog, "commit_table", locked)
    with pytest.raises(IcebergCommitError, match=r"schemahub\.trades_unified.*sql catalog"):
        writer.commit("BINANCE", "BTCUSDT", unified_rows(range(1, 11)))
    monkeypatch.undo()
    assert read_iceberg(iceberg_output.config).num_rows == 0


@pytest.mark.parametrize("trades", [300, 0], ids=["trades", "state-only"])
def test_the_table_opens_in_the_background_and_a_failure_stops_the_run_before_any_state(
    tmp_path, trades
):
    # A SQL catalog whose SQLite "file" is a folder: every query fails.
    folder = tmp_path / "not-a-database"
    folder.mkdir()
    config = {
        "output_uri": str(tmp_path / "out"),
        "iceberg_catalog": {"type": "sql", "uri": f"sqlite:///{folder}"},
        "batch_size_rows": 100,
    }
    TargetS3Parquet(config=config)  # returns: the table is opened on another thread
    states: list[dict] = []
    lines = [
        *trade_lines("coinbase_trades", "BTC-USD", 1, trades),
        state_line("coinbase_trades", "BTC-USD", 300),
    ]
    with pytest.raises(
        IcebergCommitError,
        match=r"cannot open or create the table schemahub\.trades_unified.*sql catalog",
    ):
        run_in_process(config, lines, states)
    assert states == []


def test_s3_output_without_a_catalog_is_refused_at_start_naming_the_choices():
    with pytest.raises(CatalogNotConfiguredError, match=r"glue.*rest.*sql.*table_format: hive"):
        run_in_process({"output_uri": "s3://bucket/lake"}, [])


def test_ranges_are_stored_merged_and_compact():
    text = encode_ranges([(1, 5), (7, 7), (9, 20)])
    assert text == "1:5,7,9:20"
    assert decode_ranges(text) == [(1, 5), (7, 7), (9, 20)]


def test_ranges_too_large_for_a_glue_parameter_fail_before_committing(iceberg_output, monkeypatch):
    monkeypatch.setattr(iceberg_table, "MAX_RANGES_CHARS", 20)
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    with pytest.raises(IcebergCommitError, match="too sparse"):
        writer.commit("BINANCE", "BTCUSDT", unified_rows(range(1, 40, 2)))
    assert read_iceberg(iceberg_output.config).num_rows == 0


def test_snapshot_summary_carries_only_the_ranges_it_added_and_time_travel_reads_it(
    iceberg_output,
):
    config = {**iceberg_output.config, "batch_size_rows": 10_000}
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1, 300))
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 200, 500))
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    first, second = writer.table.metadata.snapshots
    assert first.summary[iceberg_table.ADDED_SUMMARY] == "BINANCE/BTCUSDT=1:300"
    assert second.summary[iceberg_table.ADDED_SUMMARY] == "BINANCE/BTCUSDT=301:500"
    assert_exactly_once(
        read_iceberg(config, snapshot_id=first.snapshot_id), {("BINANCE", "BTCUSDT"): range(1, 301)}
    )
    assert_exactly_once(read_iceberg(config), {("BINANCE", "BTCUSDT"): range(1, 501)})


def test_migrate_round_trip_reads_back_identical_and_goes_on_exactly_once(tmp_path):
    from schemahub_core.cli import main
    from target_s3_parquet.testing import make_local_output, read_unified

    hive = make_local_output(tmp_path / "lake", "hive")
    config = {**hive.config, "batch_size_rows": 1_000}
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1, 2_500))
    run_in_process(config, trade_lines("coinbase_trades", "BTC-USD", 10, 900))
    assert main(["migrate", "--output-uri", hive.uri]) == 0
    iceberg = make_local_output(tmp_path / "lake", "iceberg")
    keys = ["exchange", "symbol", "trade_id"]
    before = read_unified(hive).sort_by([(k, "ascending") for k in keys])
    after = (
        read_unified(iceberg).select(before.column_names).sort_by([(k, "ascending") for k in keys])
    )
    assert after.equals(before.cast(after.schema))
    assert main(["migrate", "--output-uri", hive.uri]) == 0  # a rerun appends nothing
    run_in_process(
        {**iceberg.config, "batch_size_rows": 1_000},
        trade_lines("binance_trades", "BTCUSDT", 2_000, 3_000),
    )
    assert_exactly_once(
        read_unified(iceberg),
        {("BINANCE", "BTCUSDT"): range(1, 3_001), ("COINBASE", "BTC-USD"): range(10, 901)},
    )


def _keep_snapshots(writer: IcebergUnifiedTable, keep: int) -> None:
    """Expire down to `keep` snapshots once there are twice as many; merge manifests at 2."""
    writer.table.transaction().set_properties(
        {
            "history.expire.min-snapshots-to-keep": str(keep),
            "commit.manifest.min-count-to-merge": "2",
        }
    ).commit_transaction()


def test_old_snapshots_are_expired_and_every_trade_stays(iceberg_output):
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    _keep_snapshots(writer, 2)
    for start in range(1, 51, 10):  # five commits: the fifth finds 5 > 2 x 2 and expires 3
        writer.commit("BINANCE", "BTCUSDT", unified_rows(range(start, start + 10)))
    snapshots = writer.table.refresh().metadata.snapshots
    assert len(snapshots) == 2
    assert snapshots[-1].summary[iceberg_table.ADDED_SUMMARY] == "BINANCE/BTCUSDT=41:50"
    assert_exactly_once(read_iceberg(iceberg_output.config), {("BINANCE", "BTCUSDT"): range(1, 51)})


def test_expiry_deletes_the_manifests_and_lists_only_expired_snapshots_used(iceberg_output):
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    _keep_snapshots(writer, 2)
    metadata = iceberg_output.local_root / "schemahub" / "trades_unified" / "metadata"
    avro_counts = []
    for start in range(1, 301, 10):  # 30 commits, expiry every few of them
        writer.commit("BINANCE", "BTCUSDT", unified_rows(range(start, start + 10)))
        avro_counts.append(len(list(metadata.glob("*.avro"))))
    table = writer.table.refresh()
    live = {s.manifest_list for s in table.metadata.snapshots}
    live |= {m.manifest_path for s in table.metadata.snapshots for m in s.manifests(table.io)}
    assert {str(p) for p in metadata.glob("*.avro")} == {p.removeprefix("file://") for p in live}
    assert max(avro_counts[10:]) <= max(avro_counts[:10]), avro_counts  # bounded, not growing
    assert_exactly_once(
        read_iceberg(iceberg_output.config), {("BINANCE", "BTCUSDT"): range(1, 301)}
    )


def test_two_targets_creating_the_table_at_once_both_open_it(iceberg_output, monkeypatch):
    from schemahub_core import iceberg as catalogs
    from target_s3_parquet.iceberg_table import catalog_properties_for_target, open_table

    properties = catalog_properties_for_target(iceberg_output.config)
    catalog, rival = catalogs.load_catalog(properties), catalogs.load_catalog(properties)
    real_create, real_exists = catalog.create_namespace, catalog.namespace_exists
    raced = []

    def rival_inserts_between_check_and_insert(namespace, properties=None):
        raced.append(open_table(rival))  # the other target creates namespace and table...
        # ...after pyiceberg's existence check said "missing" here: the real insert collides.
        monkeypatch.setattr(catalog, "namespace_exists", lambda _namespace: False)
        try:
            real_create(namespace)
        finally:
            monkeypatch.setattr(catalog, "namespace_exists", real_exists)

    monkeypatch.setattr(catalog, "create_namespace", rival_inserts_between_check_and_insert)
    table = open_table(catalog)
    assert raced
    assert table.metadata.table_uuid == raced[0].metadata.table_uuid


def test_a_writer_behind_another_writers_commit_is_refused_and_refilters(iceberg_output):
    config = iceberg_output.config
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    rival = IcebergUnifiedTable.open(config, compression="zstd")
    writer.commit("BINANCE", "BTCUSDT", unified_rows(range(1, 101)))
    rival.commit("BINANCE", "BTCUSDT", unified_rows(range(50, 201)))
    # `writer` still holds its own last commit as the newest table it knows.
    result = writer.commit("BINANCE", "BTCUSDT", unified_rows(range(150, 301)))
    assert (result.rows_written, result.rows_already_committed) == (100, 51)
    assert_exactly_once(read_iceberg(config), {("BINANCE", "BTCUSDT"): range(1, 301)})
    assert committed_ranges(writer.table.refresh()) == {("BINANCE", "BTCUSDT"): [(1, 300)]}


def test_small_manifests_are_merged_so_scan_planning_stays_flat(iceberg_output):
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    writer.table.transaction().set_properties(
        {"commit.manifest.min-count-to-merge": "3"}
    ).commit_transaction()
    for start in range(1, 61, 10):
        writer.commit("BINANCE", "BTCUSDT", unified_rows(range(start, start + 10)))
    table = writer.table.refresh()
    manifests = table.current_snapshot().manifests(table.io)
    assert len(manifests) <= 3, [m.manifest_path for m in manifests]
    assert_exactly_once(read_iceberg(iceberg_output.config), {("BINANCE", "BTCUSDT"): range(1, 61)})
    assert table.current_snapshot().summary["total-records"] == "60"


def test_a_batch_over_two_days_lands_as_one_sorted_file_per_day_with_field_ids(iceberg_output):
    import pyarrow.parquet as pq

    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    batch = unified_rows(range(1, 3001))  # one trade a minute: 2026-01-01 00:01 to 01-03 02:00
    shuffled = batch.take(pa.array(list(range(3000))[::-1]))
    writer.commit("BINANCE", "BTCUSDT", shuffled)
    tasks = list(writer.table.scan().plan_files())
    days = sorted(task.file.partition[2] for task in tasks)
    assert days == [20454, 20455, 20456]
    for task in tasks:
        path = task.file.file_path.removeprefix("file://")
        rows = pq.read_table(path)
        assert rows.column("trade_ts").to_pylist() == sorted(rows.column("trade_ts").to_pylist())
        assert rows.schema.field("trade_id").metadata[b"PARQUET:field_id"] == b"5"
        assert pq.read_metadata(path).row_group(0).column(0).compression == "ZSTD"
        assert task.file.record_count == rows.num_rows
        assert task.file.sort_order_id == writer.table.sort_order().order_id
    assert_exactly_once(
        read_iceberg(iceberg_output.config), {("BINANCE", "BTCUSDT"): range(1, 3001)}
    )


def test_old_metadata_files_are_deleted_beyond_previous_versions_max(iceberg_output):
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    writer.table.transaction().set_properties(
        {"write.metadata.previous-versions-max": "2"}
    ).commit_transaction()
    for start in range(1, 61, 10):
        writer.commit("BINANCE", "BTCUSDT", unified_rows(range(start, start + 10)))
    folder = writer.table.metadata_location.removeprefix("file://").rsplit("/", 1)[0]
    metadata_files = [n for n in os.listdir(folder) if n.endswith(".metadata.json")]
    assert len(metadata_files) == 3, sorted(metadata_files)  # the current one + 2 previous
