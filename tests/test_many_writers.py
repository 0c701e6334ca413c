"""Many writers on one Iceberg table (issue 15): concurrent shards while `compact` runs.

Four `tap | target` pipelines, each a shard with its own state (exchange x symbol x period;
two of them are overlapping periods of BTC-USD, so they race on the same trade ids), commit
small batches into the same local Iceberg `trades_unified` while `schemahub compact` runs
again and again beside them. The table must hold every trade of the simulators' oracle
exactly once; the lost commit races (retried by the target) and the compactions that gave a
partition up are counted and printed.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from schemahub_core.sim import start_simulator
from target_s3_parquet.testing import Pipeline, PipelineRun, run_concurrently

BIN = Path(sys.executable).parent
# (shard name, exchange, product, minutes of history before "now" it starts at)
SHARDS = [
    ("coinbase-btc-early", "COINBASE", "BTC-USD", 6),
    ("coinbase-btc-late", "COINBASE", "BTC-USD", 3),  # overlaps the early one: same ids
    ("coinbase-eth", "COINBASE", "ETH-USD", 6),
    ("binance-btc", "BINANCE", "BTCUSDT", 6),
]


@dataclass
class ManyWriters:
    """What the concurrent run produced, and the simulators whose oracle is the truth."""

    output: Path
    runs: list[PipelineRun]
    compactions: list[dict]
    start: dt.datetime
    sims: dict[str, object]


def _tap(exchange: str, product: str, sim: object, start: dt.datetime, config: Path) -> list[str]:
    settings: dict[str, object] = {"api_url": sim.url, "start_date": start.isoformat()}  # type: ignore[attr-defined]
    if exchange == "COINBASE":
        # Small pages at a few requests/s: the shard commits for a while, beside compaction.
        settings |= {"product_ids": [product], "page_size": 100, "max_requests_per_second": 4}
        program = "tap-coinbase"
    else:
        settings |= {"symbols": [product], "bulk_url": sim.bulk_url, "backfill_source": "rest"}  # type: ignore[attr-defined]
        program = "tap-binance"
    config.write_text(json.dumps(settings))
    return [str(BIN / program), "--config", str(config)]


@pytest.fixture(scope="module")
def many_writers(tmp_path_factory: pytest.TempPathFactory) -> ManyWriters:
    """Run the four shards and the compaction loop once for the module."""
    work = tmp_path_factory.mktemp("many-writers")
    output = work / "output"
    sims = {
        "COINBASE": start_simulator("coinbase", seed=11, port=0, clock="frozen"),
        "BINANCE": start_simulator("binance", seed=11, port=0, clock="frozen"),
    }
    now = sims["COINBASE"].clock.now()  # type: ignore[attr-defined]
    try:
        pipelines = []
        for name, exchange, product, minutes in SHARDS:
            start = now - dt.timedelta(minutes=minutes)
            tap = _tap(exchange, product, sims[exchange], start, work / f"{name}.tap.json")
            # Small batches: many commits, so the writers and the compaction overlap often.
            target = {"output_uri": str(output), "batch_size_rows": 150}
            pipelines.append(Pipeline(name, tap, target))
        compact = [str(BIN / "schemahub"), "compact", "--output-uri", str(output), "--json"]
        runs, side_runs = run_concurrently(pipelines, work / "logs", alongside=compact)
    finally:
        for sim in sims.values():
            sim.stop()  # type: ignore[attr-defined]
    compactions = [json.loads(run.stdout) for run in side_runs if run.returncode == 0]
    return ManyWriters(output, runs, compactions, now - dt.timedelta(minutes=6), sims)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_concurrent_shards_and_compaction_keep_every_trade_exactly_once(many_writers, truth):
    for run in many_writers.runs:
        assert run.tap_returncode == 0, f"{run.name}: tap failed"
        assert run.target_returncode == 0, f"{run.name}: {run.stderr[-2000:]}"
        assert run.states, f"{run.name} emitted no STATE"
    coinbase, binance = many_writers.sims["COINBASE"], many_writers.sims["BINANCE"]
    for exchange, product, sim, mapper in (
        ("COINBASE", "BTC-USD", coinbase, truth.coinbase),
        ("COINBASE", "ETH-USD", coinbase, truth.coinbase),
        ("BINANCE", "BTCUSDT", binance, truth.binance),
    ):
        first = sim.oracle.id_at_or_after(product, many_writers.start)
        expected = mapper(sim, product, first, sim.oracle.newest_id(product))
        assert len(expected) > 300, f"{product}: too few trades for many commits"
        assert truth.table(str(many_writers.output), exchange, product) == expected, product
    assert many_writers.compactions, "compact never completed while the shards ran"
    partitions = [p for report in many_writers.compactions for p in report["partitions"]]
    compacted = [p for p in partitions if p["status"] == "compacted"]
    assert compacted, "no compaction replaced files while the shards ran: nothing was proven"
    # The figures bench/README.md reports (run with -s to see them).
    races = {run.name: run.lost_races for run in many_writers.runs}
    print(f"\nlost commit races per shard, each retried by the target: {races}")
    print(
        f"compact runs beside them: {len(many_writers.compactions)}; partitions compacted: "
        f"{len(compacted)}, its lost races retried: {sum(p['retries'] for p in partitions)}, "
        f"partitions given up (changed under it): "
        f"{sum(p['status'] == 'skipped' for p in partitions)}"
    )
