"""Our taps' BATCH output loads into a stock singer-sdk target from PyPI, row for row."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from schemahub_core.sim.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
# Beside the bench's PyPI virtualenvs; singer-sdk reads Parquet batches only with its
# `parquet` extra (pyarrow), which target-csv does not install itself.
TARGET_CSV_VENV = ROOT / "bench" / "work" / "venvs" / "meltanolabs-target-csv-parquet"


def stock_target_csv() -> Path:
    """meltanolabs-target-csv from PyPI with singer-sdk's parquet extra, in its own venv."""
    exe = TARGET_CSV_VENV / "bin" / "target-csv"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TARGET_CSV_VENV)], check=True)
        pip = str(TARGET_CSV_VENV / "bin" / "pip")
        subprocess.run([pip, "install", "-q", "meltanolabs-target-csv"], check=True)
        # The extra of the singer-sdk version target-csv resolved (no upgrade).
        version = subprocess.run(
            [str(TARGET_CSV_VENV / "bin" / "python"), "-c",
             "import importlib.metadata as m; print(m.version('singer-sdk'))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        subprocess.run([pip, "install", "-q", f"singer-sdk[parquet]=={version}"], check=True)
    return exe


def tap_output(config: dict, tmp_path: Path, name: str) -> bytes:
    """Run tap-binance with `config`; return its stdout."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    tap = ROOT / ".venv" / "bin" / "tap-binance"
    return subprocess.run([str(tap), "--config", str(path)], capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def dump_sim():
    """Market time 2025-01-03 12:00 UTC: dumps exist for every day up to 2025-01-02."""
    sim = Simulator("binance", seed=9, clock="frozen", start_time="2025-01-03T12:00:00Z")
    yield sim.start()
    sim.stop()


@pytest.fixture(scope="module")
def backfill(dump_sim, tmp_path_factory):
    """The tap's config for a small dump backfill, and the records it emits without batches."""
    config = {
        "api_url": dump_sim.url,
        "bulk_url": dump_sim.bulk_url,
        "symbols": ["LTCBTC"],
        "start_date": "2024-12-31T00:00:00Z",
        "backfill_source": "bulk",
    }
    lines = tap_output(config, tmp_path_factory.mktemp("records"), "records").splitlines()
    messages = [json.loads(line) for line in lines]
    trades = [m for m in messages if m["type"] == "RECORD" and m["stream"] == "binance_trades"]
    return config, [m["record"] for m in trades]


@pytest.mark.slow
@pytest.mark.parametrize(
    "encoding", [{"format": "jsonl", "compression": "gzip"}, {"format": "parquet"}]
)
def test_tap_binance_batches_load_into_meltanolabs_target_csv(backfill, tmp_path, encoding):
    config, records = backfill
    batch_config = {
        "encoding": encoding,
        "storage": {"root": (tmp_path / "batches").as_uri()},
        "batch_size": 400,
    }
    batched = tap_output({**config, "batch_config": batch_config}, tmp_path, "batched")
    assert b'"type":"BATCH","stream":"binance_trades"' in batched
    out = tmp_path / "csv"
    target_config = tmp_path / "target.json"
    target_config.write_text(json.dumps({"output_path": str(out)}))
    loading = subprocess.run(
        [str(stock_target_csv()), "--config", str(target_config)],
        input=batched,
        capture_output=True,
    )
    assert loading.returncode == 0, loading.stderr.decode()[-3000:]

    (written,) = out.glob("binance_trades*.csv")
    with written.open(newline="") as rows:
        loaded = list(csv.DictReader(rows))
    assert len(records) > 800
    # Every field of every trade, as target-csv writes the RECORDs' values.
    assert loaded == [{key: str(value) for key, value in r.items()} for r in records]
