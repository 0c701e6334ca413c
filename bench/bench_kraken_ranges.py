"""Committed trade-id ranges after a simulated busy day of one Kraken pair: runs vs spans.

Kraken's ids skip values (the simulator: a quarter of them). The target's commit records
keep the cumulative committed ranges; this counts them after one day of XBTUSD committed in
48 runs (every 30 minutes), with exact runs of ids and with the span of each complete batch.

    .venv/bin/python bench/bench_kraken_ranges.py
"""

from __future__ import annotations

import json

import numpy as np
from schemahub_core.sim import pages
from schemahub_core.sim.market import Market
from schemahub_core.sim.products import KRAKEN_MARKETS
from target_s3_parquet import ranges

DAY_US = 86_400_000_000
RUNS_PER_DAY = 48


def main() -> None:
    """Print the trades of the day and the range counts of both designs."""
    spec = next(s for s in KRAKEN_MARKETS if s.product_id == "XBTUSD")
    start_us = 1_780_000_000_000_000
    market = Market(spec, 1, start_us + DAY_US, 1_000_000)
    lo = pages.id_at_or_after(market, start_us, start_us + DAY_US)
    hi = market.newest_id(start_us + DAY_US)
    ids = np.concatenate([b.ids[i0:i1] for b, i0, i1 in pages.trade_slices(market, lo, hi)])
    by_runs: ranges.Ranges = []
    by_spans: ranges.Ranges = []
    for batch in np.array_split(ids, RUNS_PER_DAY):
        by_runs = ranges.merge(by_runs, ranges.runs(batch))
        by_spans = ranges.merge(by_spans, ranges.spans(batch, by_spans))
    print(f"one day of XBTUSD: {ids.size} trades over {hi - lo + 1} ids, {RUNS_PER_DAY} runs")
    print(f"exact runs: {len(by_runs)} ranges ({len(json.dumps(by_runs)) / 1e6:.1f} MB JSON)")
    print(f"spans of complete batches: {len(by_spans)} ranges")


if __name__ == "__main__":
    main()
