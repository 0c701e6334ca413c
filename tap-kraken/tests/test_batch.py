"""The BATCH lane: REST pages in batch files; the `last` cursor never passes the bookmark."""

from __future__ import annotations

from datetime import timedelta

from schemahub_core.testing import batch_rows
from tap_kraken_testkit import bookmark, partition, run_tap, tap_config


def test_trades_arrive_in_batch_files_and_a_restart_from_any_state_loses_nothing(
    sim_factory, tmp_path
):
    sim = sim_factory("kraken", seed=73, rate_limit=False, clock="frozen")
    start = (sim.clock.now() - timedelta(minutes=10)).isoformat()
    config = tap_config(sim, pairs=["XBTUSD"], start_date=start)
    records = run_tap(config).trades("XBTUSD")
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": tmp_path.as_uri()},
        "batch_size": 700,
    }
    batched = run_tap({**config, "batch_config": batch_config})

    batches = batch_rows(batched.messages, "kraken_trades")
    assert len(records) > 1_400
    assert [row for rows in batches for row in rows] == records
    states = [m["value"] for m in batched.messages if m["type"] == "STATE"]
    mid_run = [s for s in states if bookmark(s, "XBTUSD") == batches[0][-1]["trade_id"]]
    assert mid_run, "a STATE follows the first BATCH with its last trade as bookmark"
    # Resuming from that STATE (bookmark + cursor) yields exactly the trades after it.
    resumed = run_tap({**config, "batch_config": batch_config}, state=mid_run[0])
    rest = [row for rows in batch_rows(resumed.messages, "kraken_trades") for row in rows]
    assert rest == records[len(batches[0]) :]
    assert partition(resumed.final_state, "XBTUSD")["last"].isdigit()
