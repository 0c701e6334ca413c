"""Reuse: our tap with a PyPI target, and a PyPI tap with our target, through Meltano."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path


def test_tap_coinbase_feeds_target_jsonl_from_pypi(
    meltano_project, exchanges, tmp_path: Path
) -> None:
    destination = tmp_path / "jsonl"
    destination.mkdir()
    sim = exchanges.coinbase
    start = sim.clock.now() - dt.timedelta(minutes=2)
    meltano_project.env.update(
        TAP_COINBASE_PRODUCT_IDS='["ETH-USD"]',
        TAP_COINBASE_START_DATE=start.isoformat(),
        TARGET_JSONL_DESTINATION_PATH=str(destination),
        TARGET_JSONL_DO_TIMESTAMP_FILE="false",
    )
    meltano_project.run("run", "tap-coinbase", "target-jsonl")

    lines = (destination / "coinbase_trades.jsonl").read_text().splitlines()
    written = [json.loads(line) for line in lines]
    first = sim.oracle.id_at_or_after("ETH-USD", start)
    served = sim.oracle.trades("ETH-USD", first, sim.oracle.newest_id("ETH-USD"))
    assert len(served) > 50
    # Coinbase's own fields and exact values (decimal strings stay strings) plus the product.
    assert [
        {k: r[k] for k in ("trade_id", "price", "size", "side", "time", "product_id")}
        for r in written
    ] == [{**t, "product_id": "ETH-USD"} for t in served]
    products = [json.loads(x) for x in (destination / "coinbase_products.jsonl").open()]
    assert "ETH-USD" in {p["id"] for p in products}


def test_tap_jsonl_from_pypi_feeds_target_s3_parquet_raw_layer(
    meltano_project, tmp_path: Path
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    readings = [{"sensor": f"s{i % 3}", "reading": i * 1.5, "seq": i} for i in range(25)]
    (source / "readings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in readings))
    meltano_project.env.update(
        TAP_JSONL_PATH=str(source / "*.jsonl"),
        TAP_JSONL_STREAM_NAME="sensor_readings",
    )
    meltano_project.run("run", "tap-jsonl", "target-s3-parquet")

    output = tmp_path / "output"
    files = sorted((output / "raw" / "sensor_readings").rglob("*.jsonl.gz"))
    assert files, f"no raw files under {output}"
    landed = [
        json.loads(line) for f in files for line in gzip.decompress(f.read_bytes()).splitlines()
    ]
    assert [{k: r[k] for k in ("sensor", "reading", "seq")} for r in landed] == readings
    assert all("_sdc_received_at" in r for r in landed)
    # A stream without a mapping goes to the raw layer only.
    assert not list(output.glob("unified/**/*.parquet"))
