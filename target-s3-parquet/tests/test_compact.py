"""`schemahub compact`: fewer files, the same rows and ranges, safe beside a concurrent ingest."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from schemahub_core.cli import main
from schemahub_core.query import run_query
from target_s3_parquet import compact, iceberg_table, maintenance
from target_s3_parquet.compact import Compactor
from target_s3_parquet.iceberg_table import IcebergUnifiedTable, committed_ranges
from target_s3_parquet.maintenance import Selection
from target_s3_parquet.testing import (
    assert_exactly_once,
    read_iceberg,
    unified_rows,
)

KEY = ["exchange", "symbol", "trade_id"]


def small_commits(writer: IcebergUnifiedTable, last_id: int, step: int) -> None:
    """Commit ids 1..last_id in batches of `step`: many small files per day."""
    for first in range(1, last_id + 1, step):
        writer.commit(
            "BINANCE", "BTCUSDT", unified_rows(range(first, min(first + step, last_id + 1)))
        )


def sorted_rows(config: dict) -> pa.Table:
    """The whole table, in a fixed order, strings as `string` whichever writer wrote the file.

    pyiceberg reads a file's strings as `large_string` or `string` after the file's own
    Parquet schema; the values are what is compared.
    """
    rows = read_iceberg(config)
    schema = pa.schema(
        f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in rows.schema
    )
    return rows.cast(schema).sort_by([(k, "ascending") for k in KEY])


def data_files(config: dict) -> set[str]:
    """The data files of the current snapshot."""
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    return {task.file.file_path for task in writer.table.scan().plan_files()}


@pytest.mark.slow
def test_compact_cuts_files_and_keeps_rows_ranges_and_readers_identical(iceberg_output, capsys):
    config = iceberg_output.config
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    small_commits(writer, 3_000, 500)  # 2 days and 2 hours of minutes, 6 commits
    writer.commit(
        "BINANCE", "ETHUSDT", unified_rows(range(1, 50), "ETHUSDT")
    )  # one file: left alone
    before, files_before = sorted_rows(config), data_files(config)
    ranges_before = committed_ranges(writer.table.refresh())
    sql = "SELECT count(*) AS n, sum(price * quantity) AS notional FROM trades_unified"
    query_before = run_query(sql, iceberg_output.uri).to_pylist()

    one_day = ["--symbol", "BTCUSDT", "--from", "2026-01-02", "--to", "2026-01-02"]
    assert (
        main(["compact", "--output-uri", iceberg_output.uri, "--dry-run", "--json", *one_day]) == 0
    )
    (planned,) = json.loads(capsys.readouterr().out)["partitions"]
    assert (planned["partition"], planned["status"]) == (
        "BINANCE BTCUSDT 2026-01-02",
        "would compact",
    )
    assert (planned["files_before"], planned["files_after"]) == (4, 1)
    assert data_files(config) == files_before

    assert main(["compact", "--output-uri", iceberg_output.uri, "--json"]) == 0
    printed = capsys.readouterr()
    report = json.loads(printed.out)
    assert "compact: 4/4 partitions (100.0%)" in printed.err  # progress on stderr
    compacted = [p for p in report["partitions"] if p["status"] == "compacted"]
    assert [p["partition"] for p in compacted] == [
        "BINANCE BTCUSDT 2026-01-01",
        "BINANCE BTCUSDT 2026-01-02",
    ]  # 2026-01-03 holds one file: nothing to pack
    files_after = data_files(config)
    assert len(files_before) == 9
    assert len(files_after) == 4  # one per partition
    assert sorted_rows(config).equals(before)
    assert run_query(sql, iceberg_output.uri).to_pylist() == query_before
    table = IcebergUnifiedTable.open(config, compression="zstd").table
    assert committed_ranges(table) == ranges_before
    summary = table.current_snapshot().summary
    assert summary[maintenance.OPERATION_SUMMARY] == "compact"
    assert summary[iceberg_table.ADDED_SUMMARY] is None  # a compaction adds no ranges


def test_compact_keeps_each_file_sorted_by_trade_ts(iceberg_output):
    config = iceberg_output.config
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    for first in (101, 1, 51):  # committed out of time order
        writer.commit("BINANCE", "BTCUSDT", unified_rows(range(first, first + 50)))
    Compactor(writer.table.refresh(), 1 << 20).compact(Selection())
    (task,) = writer.table.refresh().scan().plan_files()
    with writer.table.io.new_input(task.file.file_path).open() as stream:
        trade_ts = pq.read_table(stream).column("trade_ts").to_pylist()
    assert trade_ts == sorted(trade_ts)
    assert len(trade_ts) == 150


def test_ingest_committing_during_compaction_loses_and_duplicates_nothing(
    iceberg_output, monkeypatch
):
    config = iceberg_output.config
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    small_commits(writer, 1_000, 200)
    ingest = IcebergUnifiedTable.open(config, compression="zstd")
    real_replace = maintenance.replace_files
    calls = []

    def ingest_commits_first(table, deleted, added, operation):
        # Deterministic interleaving: the ingest lands between compaction's read and commit,
        # in the very partition being compacted.
        if not calls:
            ingest.commit("BINANCE", "BTCUSDT", unified_rows(range(1_001, 1_100)))
        calls.append(operation)
        return real_replace(table, deleted, added, operation)

    monkeypatch.setattr(maintenance, "replace_files", ingest_commits_first)
    (result,) = Compactor(writer.table.refresh(), 1 << 20).compact(Selection())
    assert (result.status, result.retries) == ("compacted", 1)
    assert_exactly_once(read_iceberg(config), {("BINANCE", "BTCUSDT"): range(1, 1_100)})
    assert committed_ranges(writer.table.refresh()) == {("BINANCE", "BTCUSDT"): [(1, 1_099)]}
    assert len(data_files(config)) == 2  # the compacted file + the ingest's new one


def test_ingest_losing_to_a_compaction_retries_without_rewriting_its_files(iceberg_output):
    config = iceberg_output.config
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    small_commits(writer, 1_000, 200)

    class IngestRacingCompaction(IcebergUnifiedTable):
        writes = 0
        compacted = False

        def _write(self, *args, **kwargs):
            self.writes += 1
            return super()._write(*args, **kwargs)

        def _commit_files(self, *args, **kwargs):
            if not self.compacted:  # compaction commits between this ingest's read and commit
                self.compacted = True
                Compactor(writer.table.refresh(), 1 << 20).compact(Selection())
            return super()._commit_files(*args, **kwargs)

    ingest = IngestRacingCompaction.open(config, compression="zstd")
    result = ingest.commit("BINANCE", "BTCUSDT", unified_rows(range(900, 1_200)))
    assert (result.rows_written, result.rows_already_committed) == (199, 101)
    assert ingest.writes == 1  # the retry re-appended the files it had written
    assert_exactly_once(read_iceberg(config), {("BINANCE", "BTCUSDT"): range(1, 1_200)})


def test_partition_changed_under_the_compaction_is_skipped_with_a_message(
    iceberg_output, monkeypatch, caplog
):
    config = iceberg_output.config
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    small_commits(writer, 1_000, 200)
    before = sorted_rows(config)
    rival = Compactor(IcebergUnifiedTable.open(config, compression="zstd").table, 1 << 20)
    real_replace = maintenance.replace_files
    raced: list[bool] = []

    def rival_compacts_first(table, deleted, added, operation):
        if not raced:
            raced.append(True)
            rival.compact(Selection())  # replaces the very files this compaction read
        return real_replace(table, deleted, added, operation)

    monkeypatch.setattr(maintenance, "replace_files", rival_compacts_first)
    (result,) = Compactor(writer.table.refresh(), 1 << 20).compact(Selection())
    assert result.status == "skipped"
    assert "changed under the compaction" in result.reason
    assert "BINANCE BTCUSDT 2026-01-01 skipped" in caplog.text
    assert sorted_rows(config).equals(before)
    assert len(data_files(config)) == 1  # the rival's file; ours was removed


@pytest.mark.parametrize("target_mb", [0, -1])
def test_compact_refuses_a_target_size_below_one_mb(iceberg_output, capsys, target_mb):
    IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    argv = ["compact", "--output-uri", iceberg_output.uri, "--target-file-mb", str(target_mb)]
    assert main(argv) == 2
    assert "--target-file-mb" in capsys.readouterr().err


def test_bins_hold_at_most_the_target_size_and_skip_single_files():
    class File:
        def __init__(self, name: str, size: int) -> None:
            self.file_path, self.file_size_in_bytes, self.lower_bounds = name, size, {}

    files = [File(f"f{i}", size) for i, size in enumerate([40, 40, 40, 90, 30, 10])]
    bins = compact.plan_bins(files, 100)  # type: ignore[arg-type]
    assert [[f.file_path for f in group] for group in bins] == [["f0", "f1"], ["f2", "f4", "f5"]]


def test_compact_merges_files_overlapping_in_time_a_row_group_at_a_time(iceberg_output):
    config = iceberg_output.config
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    with writer.table.transaction() as transaction:
        transaction.set_properties({"write.parquet.row-group-limit": "100"})
    for first in (1, 2, 3):  # three files, each a third of the same hours: they interleave
        writer.commit("BINANCE", "BTCUSDT", unified_rows(range(first, 1201, 3)))
    writer.commit("BINANCE", "BTCUSDT", unified_rows(range(1201, 1401)))  # later, disjoint
    before = sorted_rows(config)
    table = writer.table.refresh()
    day = next(iter(maintenance.live_files(table, Selection()).values()))
    partition = next(iter(maintenance.live_files(table, Selection())))

    chunks = list(compact.merged_in_order(table.io, day, partition))
    Compactor(table, 1 << 20).compact(Selection())

    # Never more in one chunk than what the 3 overlapping files hold loaded: at most 2 row
    # groups of 100 each (the rest of one and the next), not the bin's 1400 rows.
    assert max(chunk.num_rows for chunk in chunks) <= 3 * 2 * 100
    (path,) = data_files(config)
    with writer.table.io.new_input(path).open() as stream:
        written = pq.ParquetFile(stream)
        assert written.num_row_groups == 14
        ids = [int(i) for i in written.read(columns=["trade_id"]).column(0).to_pylist()]
    assert ids == list(range(1, 1401))  # trade i is at minute i: time order is id order
    assert sorted_rows(config).equals(before)


def test_output_row_groups_are_cut_at_the_row_limit_or_the_arrow_size():
    chunks = [unified_rows(range(first, first + 10)) for first in range(11, 111, 10)]
    by_rows = list(compact.row_groups(chunks, 25, max_bytes=1 << 30))
    # Two chunks always stay under the size, three always reach it.
    by_size = list(
        compact.row_groups(chunks, 1000, max_bytes=2 * max(c.nbytes for c in chunks) + 1)
    )

    assert [group.num_rows for group in by_rows] == [25, 25, 25, 25]
    assert [group.num_rows for group in by_size] == [30, 30, 30, 10]
    assert pa.concat_tables(by_size).equals(pa.concat_tables(chunks))


def test_the_next_ingest_drops_the_manifests_that_only_list_compacted_away_files(iceberg_output):
    config = iceberg_output.config
    writer = IcebergUnifiedTable.open(config, compression="zstd")
    small_commits(writer, 1_000, 100)  # ten commits, ten manifests of one day's files
    Compactor(writer.table.refresh(), 1 << 20).compact(Selection())
    table = writer.table.refresh()
    dead = [
        m
        for m in table.current_snapshot().manifests(table.io)
        if not (m.has_added_files() or m.has_existing_files())
    ]
    assert dead  # the compaction's own snapshot records what it deleted

    writer.commit("BINANCE", "BTCUSDT", unified_rows(range(1_001, 1_011)))
    table = writer.table.refresh()
    carried = {m.manifest_path for m in table.current_snapshot().manifests(table.io)}
    assert carried.isdisjoint(m.manifest_path for m in dead)
    assert_exactly_once(read_iceberg(config), {("BINANCE", "BTCUSDT"): range(1, 1_011)})
