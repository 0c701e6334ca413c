"""Input this target cannot load yet stops it before any STATE claims it: BATCH messages."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

from singer_sdk import Stream, Tap
from target_s3_parquet.synthetic import COINBASE_SCHEMA, coinbase_record
from target_s3_parquet.testing import run_target


class _Trades(Stream):
    """coinbase_trades as tap-coinbase declares it, from synthetic trades 1-2500."""

    name = "coinbase_trades"
    schema = COINBASE_SCHEMA
    primary_keys = ("trade_id",)
    replication_key = "trade_id"

    def get_records(self, context: dict | None):
        for trade_id in range(1, 2501):
            yield coinbase_record("BTC-USD", trade_id)


class _BatchTap(Tap):
    """A singer-sdk tap: with batch_config it writes BATCH messages and gzip JSONL files,
    exactly as tap-coinbase and tap-binance do (they advertise the SDK's batch capability)."""

    name = "tap-batch-test"
    config_jsonschema = {"type": "object", "properties": {}}

    def discover_streams(self):
        return [_Trades(self)]


def _tap_output_in_batch_mode(batches: Path) -> list[str]:
    config = {
        "batch_config": {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": batches.as_uri(), "prefix": "batch-"},
            "batch_size": 1000,
        }
    }
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        _BatchTap(config=config, parse_env_config=False).sync_all()
    return stdout.getvalue().splitlines()


def test_a_batch_message_stops_the_target_before_any_state_covering_it(local_output, tmp_path):
    lines = _tap_output_in_batch_mode(tmp_path / "batches")
    kinds = [json.loads(line)["type"] for line in lines]
    assert kinds.count("BATCH") == 3
    assert "STATE" in kinds[kinds.index("BATCH") :]
    assert "RECORD" not in kinds

    result = run_target(tmp_path, local_output.config, lines)

    assert result.returncode != 0
    assert "stream 'coinbase_trades': received a BATCH message" in result.stderr
    assert "does not support BATCH messages yet" in result.stderr
    assert "Remove batch_config from the tap's config" in result.stderr
    # No STATE was relayed: every STATE of this run comes after the first BATCH.
    assert result.stdout == ""
    # Nothing was written as if it had been loaded.
    assert local_output.keys("raw") == []
    assert local_output.keys("unified") == []
    assert local_output.keys("_commits") == []
