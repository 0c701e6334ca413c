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
sys.path.insert(0, str(ROOT / "bench"))
from bench_target import ensure_baseline  # noqa: E402 (the bench's PyPI virtualenvs)


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


@pytest.mark.slow
@pytest.mark.parametrize(
    "encoding", [{"format": "jsonl", "compression": "gzip"}, {"format": "parquet"}]
)
def test_tap_binance_batches_load_into_meltanolabs_target_csv(dump_sim, tmp_path, encoding):
    target_csv = ensure_baseline("meltanolabs-target-csv", "target-csv")
    config = {
        "api_url": dump_sim.url,
        "bulk_url": dump_sim.bulk_url,
        "symbols": ["LTCBTC"],
        "start_date": "2024-12-31T00:00:00Z",
        "backfill_source": "bulk",
    }
    lines = tap_output(config, tmp_path, "records").decode().splitlines()
    messages = [json.loads(line) for line in lines]
    records = [
        m["record"]
        for m in messages
        if m.get("stream") == "binance_trades" and m["type"] == "RECORD"
    ]
    batch_config = {
        "encoding": encoding,
        "storage": {"root": (tmp_path / "batches").as_uri()},
        "batch_size": 400,
    }
    batched = tap_output({**config, "batch_config": batch_config}, tmp_path, "batched")
    assert b'"type":"BATCH","stream":"binance_trades"' in batched.replace(b" ", b"")
    out = tmp_path / "csv"
    target_config = tmp_path / "target.json"
    target_config.write_text(json.dumps({"output_path": str(out)}))
    subprocess.run(
        [str(target_csv), "--config", str(target_config)],
        input=batched,
        check=True,
        capture_output=True,
    )

    (written,) = out.glob("binance_trades*.csv")
    with written.open(newline="") as rows:
        loaded = list(csv.DictReader(rows))
    assert len(records) > 800
    assert loaded == [{key: str(value) for key, value in r.items()} for r in records]
