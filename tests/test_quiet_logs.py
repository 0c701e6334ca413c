"""Plugin logs: no METRIC lines in dev and demo runs, on in prod (the switch: its env line).

The plugins run for real (the target as a subprocess on synthetic trades) under the logging
config meltano.yml hands them through SINGER_SDK_LOG_CONFIG.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from target_s3_parquet.synthetic import trade_lines
from target_s3_parquet.testing import run_target

ROOT = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text())


def log_config(path_in_meltano_yml: str) -> str:
    """The file a SINGER_SDK_LOG_CONFIG value of meltano.yml names (relative to the root)."""
    return str(ROOT / path_in_meltano_yml)


def target_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_file: str) -> str:
    """Run the real target on 200 trades with ``config_file`` as its logging config."""
    monkeypatch.setenv("SINGER_SDK_LOG_CONFIG", config_file)
    lines = trade_lines("coinbase_trades", "BTC-USD", 1, 200, state_every=100)
    # The Hive layout: what is logged does not depend on the table format, and it spares
    # each run creating an Iceberg catalog.
    config = {"output_uri": str(tmp_path / "out"), "table_format": "hive"}
    result = run_target(tmp_path, config, lines)
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.slow
def test_dev_and_demo_runs_log_no_metric_lines(tmp_path: Path, monkeypatch) -> None:
    environments = {e["name"]: e for e in PROJECT["environments"]}
    assert "SINGER_SDK_LOG_CONFIG" not in environments["dev"].get("env", {})
    assert "SINGER_SDK_LOG_CONFIG" not in environments["demo"].get("env", {})
    stderr = target_stderr(
        tmp_path, monkeypatch, log_config(PROJECT["env"]["SINGER_SDK_LOG_CONFIG"])
    )
    assert "METRIC" not in stderr
    assert "Logging config file not found" not in stderr
    assert "target-s3-parquet" in stderr or "target_s3_parquet" in stderr  # other lines stay


@pytest.mark.slow
def test_prod_and_the_documented_switch_turn_metric_lines_on(tmp_path: Path, monkeypatch) -> None:
    prod = next(e for e in PROJECT["environments"] if e["name"] == "prod")
    switch = log_config(prod["env"]["SINGER_SDK_LOG_CONFIG"])
    assert switch == str(ROOT / "logging" / "metrics.yaml")  # the file docs/operations.md names
    assert "METRIC: " in target_stderr(tmp_path, monkeypatch, switch)
