"""Exactly once in trades_unified: replays, backfills, races between writers, crashed commits."""

from __future__ import annotations

import subprocess

import pyarrow as pa
import pytest
from target_s3_parquet.storage import LocalStorage, StorageError
from target_s3_parquet.synthetic import trade_lines
from target_s3_parquet.testing import (
    assert_exactly_once,
    read_unified,
    run_in_process,
    target_command,
    watermark,
    write_config,
)
from target_s3_parquet.unified import COMMITS_PREFIX, STAGING_PREFIX, UnifiedTableWriter


def test_backfill_of_older_history_lands_after_an_incremental_commit(output):
    config = {**output.config, "batch_size_rows": 20_000}
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 50_001, 60_000))
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1, 60_000))
    assert_exactly_once(read_unified(output), {("BINANCE", "BTCUSDT"): range(1, 60_001)})


def test_rerun_from_an_earlier_state_writes_no_trade_twice(local_output):
    config = {**local_output.config, "batch_size_rows": 700}
    states = run_in_process(
        config, trade_lines("coinbase_trades", "ETH-USD", 1, 5_000, state_every=500)
    )
    bookmarks = [watermark(s, "coinbase_trades") for s in states]
    assert bookmarks == sorted(bookmarks)
    assert bookmarks[-1] == 5_000
    # Meltano may have stored only an old state (or none): replay from there, with new trades.
    run_in_process(config, trade_lines("coinbase_trades", "ETH-USD", bookmarks[2] + 1, 6_000))
    run_in_process(config, trade_lines("coinbase_trades", "ETH-USD", 1, 6_500))
    assert_exactly_once(read_unified(local_output), {("COINBASE", "ETH-USD"): range(1, 6_501)})


def test_trades_repeated_inside_one_batch_are_written_once(local_output):
    lines = list(trade_lines("binance_trades", "BTCUSDT", 1, 300))
    lines += lines[1:]  # the same records again, in the same batch
    run_in_process({**local_output.config, "batch_size_rows": 10_000}, lines)
    assert_exactly_once(read_unified(local_output), {("BINANCE", "BTCUSDT"): range(1, 301)})


def test_ids_are_compared_as_integers_not_strings(local_output):
    config = {**local_output.config, "batch_size_rows": 10_000}
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 95, 105))
    # "1000" < "105" as strings: a string comparison would drop these as already committed.
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 990, 1_010))
    assert_exactly_once(
        read_unified(local_output),
        {("BINANCE", "BTCUSDT"): [*range(95, 106), *range(990, 1_011)]},
    )


def test_two_targets_at_once_on_the_same_symbols_write_each_trade_once(racing_output, tmp_path):
    output = racing_output
    config = write_config(tmp_path, {**output.config, "batch_size_rows": 500})
    inputs = [
        [
            *trade_lines("binance_trades", "BTCUSDT", 1, 6_000),
            *trade_lines("coinbase_trades", "BTC-USD", 1, 4_000),
        ],
        [
            *trade_lines("coinbase_trades", "BTC-USD", 2_000, 6_000),
            *trade_lines("binance_trades", "BTCUSDT", 3_000, 8_000),
        ],
    ]
    procs = [
        subprocess.Popen(
            target_command(config),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in inputs
    ]
    outputs = [
        p.communicate("\n".join(lines) + "\n", timeout=120)
        for p, lines in zip(procs, inputs, strict=True)
    ]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    assert_exactly_once(
        read_unified(output),
        {("BINANCE", "BTCUSDT"): range(1, 8_001), ("COINBASE", "BTC-USD"): range(1, 6_001)},
    )


class RacingStorage(LocalStorage):
    """Lets a rival writer commit right before this writer's first commit-record write."""

    def __init__(self, root, rival) -> None:
        super().__init__(root)
        self.rival = rival
        self.lost = 0

    def put(self, key, data, *, if_absent=False):
        if key.startswith(COMMITS_PREFIX) and self.rival is not None:
            rival, self.rival = self.rival, None
            rival()
        written = super().put(key, data, if_absent=if_absent)
        self.lost += not written
        return written


def _mapped(ids) -> pa.Table:
    from schemahub_core.mapping import load_mappings
    from target_s3_parquet.synthetic import binance_record

    records = [binance_record("BTCUSDT", i) for i in ids]
    return load_mappings()["binance_trades"].apply(pa.Table.from_pylist(records))


def test_losing_the_commit_race_refilters_against_the_winner(local_output):
    root = local_output.local_root
    rival = UnifiedTableWriter(LocalStorage(root))
    storage = RacingStorage(root, lambda: rival.commit("BINANCE", "BTCUSDT", _mapped(range(1, 80))))
    result = UnifiedTableWriter(storage).commit("BINANCE", "BTCUSDT", _mapped(range(50, 120)))
    assert storage.lost == 1  # the conditional create of seq 1 failed: the rival had it
    assert result.rows_written == 40
    assert result.rows_already_committed == 30
    assert_exactly_once(read_unified(local_output), {("BINANCE", "BTCUSDT"): range(1, 120)})
    assert not list(root.glob(f"{STAGING_PREFIX}/**/*.parquet"))


class CrashBeforePublish(LocalStorage):
    """Dies (raises) on the first publish: the commit record exists, the files are staged."""

    def publish(self, staged_key, final_key, data=None):
        raise StorageError("simulated crash between commit record and publish")


def test_a_commit_whose_writer_died_before_publishing_is_rolled_forward(local_output):
    root = local_output.local_root
    with pytest.raises(StorageError, match="simulated crash"):
        UnifiedTableWriter(CrashBeforePublish(root)).commit(
            "BINANCE", "BTCUSDT", _mapped(range(1, 100))
        )
    assert list(root.glob(f"{COMMITS_PREFIX}/**/*.json"))
    assert read_unified(local_output).num_rows == 0  # committed but not visible yet
    # A later run: its start-up sweep publishes the committed files, then replay is dropped.
    run_in_process(local_output.config, trade_lines("binance_trades", "BTCUSDT", 1, 150))
    assert_exactly_once(read_unified(local_output), {("BINANCE", "BTCUSDT"): range(1, 151)})
    assert not list(root.glob(f"{STAGING_PREFIX}/**/*.parquet"))


def test_files_staged_by_a_writer_that_died_before_committing_stay_invisible(local_output):
    root = local_output.local_root

    class CrashBeforeRecord(LocalStorage):
        def put(self, key, data, *, if_absent=False):
            if key.startswith(COMMITS_PREFIX):
                raise StorageError("simulated crash before the commit record")
            return super().put(key, data, if_absent=if_absent)

    with pytest.raises(StorageError):
        UnifiedTableWriter(CrashBeforeRecord(root)).commit(
            "BINANCE", "BTCUSDT", _mapped(range(1, 100))
        )
    assert list(root.glob(f"{STAGING_PREFIX}/**/*.parquet"))
    assert read_unified(local_output).num_rows == 0
    run_in_process(local_output.config, trade_lines("binance_trades", "BTCUSDT", 1, 150))
    assert_exactly_once(read_unified(local_output), {("BINANCE", "BTCUSDT"): range(1, 151)})
