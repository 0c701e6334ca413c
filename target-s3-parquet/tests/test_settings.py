"""Every setting --about lists is honoured; singer-sdk settings this target would ignore are
refused at start-up, and so is a batch size it cannot use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from singer_sdk.exceptions import ConfigValidationError
from target_s3_parquet.synthetic import trade_lines
from target_s3_parquet.target import TargetS3Parquet
from target_s3_parquet.testing import run_target

HONOURED = {
    "output_uri",
    "s3_endpoint_url",
    "aws_region",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "mappings_dir",
    "max_batch_age_seconds",
    "parquet_compression",
    "on_invalid_record",
    "batch_size_rows",
    "validate_records",
    "table_format",
    "iceberg_catalog",
    "iceberg_raw_tables",
    "iceberg_commit_rows",
    "delete_batch_files",
}


def test_about_lists_only_the_settings_the_target_honours():
    about = subprocess.run(
        [sys.executable, "-m", "target_s3_parquet", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    settings = json.loads(about.stdout)["settings"]["properties"]
    assert set(settings) == HONOURED
    assert settings["batch_size_rows"]["minimum"] == 1


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("load_method", "upsert"),
        ("load_method", "overwrite"),
        ("add_record_metadata", True),
        ("hard_delete", True),
        ("process_activate_version_messages", True),
        ("batch_config", {"encoding": {"format": "jsonl"}, "storage": {"root": "file:///tmp"}}),
        ("stream_maps", {"coinbase_trades": {"price": "float(price)"}}),
        ("stream_map_config", {"x": 1}),
        ("faker_config", {"seed": 1}),
        ("flattening_enabled", True),
        ("flattening_max_depth", 2),
    ],
)
def test_an_sdk_setting_the_target_would_ignore_is_refused_at_start_up(
    local_output, setting, value
):
    with pytest.raises(ConfigValidationError) as error:
        TargetS3Parquet(config={**local_output.config, setting: value})
    [message] = error.value.errors
    assert f"setting {setting!r}" in message
    assert "is not supported" in message
    assert "Remove it from the target's config" in message
    assert not local_output.local_root.exists()  # refused before touching the output


def test_the_values_those_settings_take_when_off_are_accepted(local_output):
    config = {
        **local_output.config,
        "load_method": "append-only",
        "add_record_metadata": False,
        "hard_delete": False,
        "process_activate_version_messages": False,
        "stream_maps": {},
        "flattening_enabled": False,
    }
    TargetS3Parquet(config=config)


@pytest.mark.parametrize("size", [0, -1])
def test_a_batch_size_below_one_is_refused_with_a_clear_message(local_output, tmp_path, size):
    lines = trade_lines("coinbase_trades", "BTC-USD", 1, 3)
    result = run_target(tmp_path, {**local_output.config, "batch_size_rows": size}, lines)
    assert result.returncode == 1
    assert f"{size} is less than the minimum of 1 in config['batch_size_rows']" in result.stderr
    assert "Traceback" not in result.stderr
