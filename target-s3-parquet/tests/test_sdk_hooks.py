"""SDK hooks the target bypasses on purpose raise, rather than losing records quietly."""

from __future__ import annotations

import gc
import io
import json

import pytest
from singer_sdk.io_base import SingerReader
from target_s3_parquet.sinks import BypassedHookError
from target_s3_parquet.synthetic import (
    coinbase_record,
    record_line,
    schema_line,
    state_line,
    trade_lines,
)
from target_s3_parquet.target import TargetS3Parquet


@pytest.fixture
def target(local_output):
    target = TargetS3Parquet(config={**local_output.config, "table_format": "hive"})
    target.listen(io.StringIO(schema_line("coinbase_trades") + "\n"))
    return target


def test_a_record_given_to_a_sink_one_by_one_is_refused_not_queued_for_nothing(target):
    sink = target.sink_named("coinbase_trades")
    assert sink is not None
    with pytest.raises(BypassedHookError, match="would never be committed"):
        sink.process_record(coinbase_record("BTC-USD", 1), {})
    with pytest.raises(BypassedHookError, match="commits every stream's batch together"):
        sink.process_batch({})


def test_records_read_by_the_sdks_own_reader_stop_the_run(target):
    target.message_reader = SingerReader()  # bypassing BatchedSingerReader
    lines = io.StringIO(record_line("coinbase_trades", coinbase_record("BTC-USD", 1)) + "\n")
    with pytest.raises(BypassedHookError, match="'coinbase_trades' reached the SDK's per-record"):
        target.process_lines(lines)


def test_the_command_line_run_freezes_what_is_left_so_the_exit_skips_collecting_it(
    local_output, tmp_path, capsys
):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**local_output.config, "table_format": "hive"}))
    lines = [
        *trade_lines("coinbase_trades", "BTC-USD", 1, 3),
        state_line("coinbase_trades", "BTC-USD", 3),
    ]
    source = tmp_path / "input.jsonl"
    source.write_text("".join(f"{line}\n" for line in lines))
    gc.unfreeze()
    try:
        TargetS3Parquet.cli(
            ["--config", str(config), "--input", str(source)], standalone_mode=False
        )
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert json.loads(capsys.readouterr().out)["bookmarks"]["coinbase_trades"]
