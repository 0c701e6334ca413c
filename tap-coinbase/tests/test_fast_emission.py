"""The fast RECORD path writes what singer-sdk's own path writes, and only when it may."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest
from schemahub_core.fastpath import fast_path_allowed
from tap_coinbase.streams import TradesStream
from tap_coinbase.tap import TapCoinbase
from tap_coinbase_testkit import parse_messages, run_tap, state_at, tap_config


def without_time_extracted(messages):
    return [{k: v for k, v in m.items() if k != "time_extracted"} for m in messages]


def test_fast_path_output_equals_the_sdk_record_path(sim_factory, monkeypatch):
    sim = sim_factory("coinbase", seed=61, rate_limit=False)
    oracle = sim.oracle
    state = state_at({p: oracle.newest_id(p) - 6_500 for p in ("BTC-USD", "SOL-USD")})
    config = tap_config(sim, product_ids=["BTC-USD", "SOL-USD"])

    fast = run_tap(config, state=state)
    monkeypatch.setattr(TradesStream, "allow_fast_emission", False)
    sdk = run_tap(config, state=state)

    fast_records = [m for m in fast.messages if m["type"] == "RECORD"]
    sdk_records = [m for m in sdk.messages if m["type"] == "RECORD"]
    assert len(sdk_records) > 12_000
    assert all("time_extracted" in m for m in fast_records)
    assert without_time_extracted(fast_records) == without_time_extracted(sdk_records)
    assert fast.final_state == sdk.final_state
    assert [m["type"] for m in fast.messages[:3]] == [m["type"] for m in sdk.messages[:3]]


def test_fast_path_state_lines_never_run_ahead_of_records(sim_factory):
    sim = sim_factory("coinbase", seed=62, rate_limit=False)
    start = sim.oracle.newest_id("BTC-USD") - 35_000
    out = run_tap(tap_config(sim), state=state_at({"BTC-USD": start}))
    highest_written = start
    mid_run_states = 0
    for message in out.messages:
        if message["type"] == "RECORD" and message["stream"] == "coinbase_trades":
            highest_written = message["record"]["trade_id"]
        elif message["type"] == "STATE":
            partitions = message["value"]["bookmarks"]["coinbase_trades"]["partitions"]
            value = partitions[0].get("replication_key_value", start)
            assert value <= highest_written
            mid_run_states += highest_written < sim.oracle.newest_id("BTC-USD")
    assert mid_run_states >= 3  # progress is checkpointed during the backfill


@pytest.mark.parametrize(
    "extra",
    [
        {"stream_maps": {"coinbase_trades": {"price_x2": "float(price) * 2"}}},
        {"flattening_enabled": True, "flattening_max_depth": 1},
    ],
    ids=["stream-maps", "flattening"],
)
def test_stream_maps_or_flattening_use_the_sdk_path(sim_factory, extra):
    sim = sim_factory("coinbase", seed=63, rate_limit=False)
    tap = TapCoinbase(config=tap_config(sim, **extra), parse_env_config=False)
    stream = tap.streams["coinbase_trades"]
    assert not fast_path_allowed(stream)
    if "stream_maps" in extra:
        start = sim.oracle.newest_id("BTC-USD") - 1_500
        out = run_tap(tap_config(sim, **extra), state=state_at({"BTC-USD": start}))
        records = out.trades("BTC-USD")
        assert len(records) == 1_500
        assert all(r["price_x2"] == float(r["price"]) * 2 for r in records)


def test_plain_config_uses_the_fast_path(sim_factory):
    sim = sim_factory("coinbase", seed=64, rate_limit=False)
    tap = TapCoinbase(config=tap_config(sim), parse_env_config=False)
    assert fast_path_allowed(tap.streams["coinbase_trades"])


def test_deselected_fields_use_the_sdk_path_and_are_left_out(sim_factory):
    sim = sim_factory("coinbase", seed=65, rate_limit=False)
    config = tap_config(sim)
    catalog = TapCoinbase(config=config, parse_env_config=False).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == ["properties", "size"]:
                entry["metadata"]["selected"] = False
    start = sim.oracle.newest_id("BTC-USD") - 1_200
    tap = TapCoinbase(
        config=config,
        catalog=catalog,
        state=state_at({"BTC-USD": start}),
        parse_env_config=False,
    )
    assert not fast_path_allowed(tap.streams["coinbase_trades"])
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.sync_all()
    records = parse_messages(buffer.getvalue()).trades("BTC-USD")
    assert len(records) == 1_200
    assert all("size" not in r and "price" in r for r in records)
