"""The page writer writes what singer-sdk's own record path writes, and only when it may."""

from __future__ import annotations

from datetime import timedelta

from tap_kraken.streams import TradesStream
from tap_kraken_testkit import run_tap, tap_config


def without_time_extracted(messages):
    return [{k: v for k, v in m.items() if k != "time_extracted"} for m in messages]


def test_page_writer_output_equals_the_sdk_record_path(sim_factory, monkeypatch):
    monkeypatch.setattr(TradesStream, "STATE_MSG_FREQUENCY", 2000)
    sim = sim_factory("kraken", seed=71, rate_limit=False)
    start = (sim.clock.now() - timedelta(minutes=20)).isoformat()
    config = tap_config(sim, pairs=["XBTUSD", "XDGUSD"], start_date=start)

    fast = run_tap(config)
    monkeypatch.setattr(TradesStream, "allow_fast_emission", False)
    sdk = run_tap(config)

    fast_records = [m for m in fast.messages if m["type"] == "RECORD"]
    sdk_records = [m for m in sdk.messages if m["type"] == "RECORD"]
    assert len(sdk_records) > 5000
    assert without_time_extracted(fast_records) == without_time_extracted(sdk_records)
    assert fast.final_state == sdk.final_state
    assert len(fast.states) > 3, "progress is checkpointed during the backfill"


def test_stream_maps_take_singer_sdk_s_record_path(sim_factory):
    sim = sim_factory("kraken", seed=72, rate_limit=False)
    maps = {"kraken_trades": {"price_x2": "float(price) * 2"}}
    out = run_tap(tap_config(sim, pairs=["XBTUSD"], lookback_minutes=3, stream_maps=maps))
    records = out.records["kraken_trades"]
    assert records
    assert all(r["price_x2"] == float(r["price"]) * 2 for r in records)
