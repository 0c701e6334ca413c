"""Fault storms, SIGKILL restarts and the weight budget: exactly once, never ahead, never 418."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from tap_binance_testkit import base_config, bookmark, parse_lines, run_tap


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_fault_storm_loses_and_repeats_nothing(sim):
    sim.configure(
        fault_5xx=0.08,
        fault_reset=0.05,
        fault_truncate=0.05,
        fault_html=0.05,
        fault_429=0.04,
        storm_retry_after=1,
        latency="uniform:0:5",
    )
    start = sim.clock.now() - timedelta(minutes=6)
    run = run_tap(base_config(sim, symbols=["BTCUSDT", "BNBBTC"], start_date=iso(start)))
    for symbol in ("BTCUSDT", "BNBBTC"):
        first = sim.oracle.id_at_or_after(symbol, start)
        assert run.trades(symbol) == sim.oracle.trades(symbol, first), symbol
        assert bookmark(run.final_state, symbol) == sim.oracle.newest_id(symbol)
    faults = sim.stats.snapshot()["faults"]
    assert sum(faults.values()) >= 5, faults  # the storm really happened
    assert sim.stats.responses_418 == 0


def test_historical_trades_run_within_one_minute_has_no_429(sim):
    start = sim.clock.now() - timedelta(minutes=10)
    run = run_tap(base_config(sim, symbols=["BTCUSDT", "ETHUSDT"], start_date=iso(start)))
    assert len(run.records()) > 15000
    assert sim.stats.responses_429 == 0
    assert sim.stats.responses_418 == 0


def assert_state_never_ahead_of_records(
    messages: list[dict], resumed_from: dict | None = None
) -> None:
    """Every STATE covers only trades already written before it (or by the run it resumes)."""
    emitted = {s: bookmark(resumed_from or {}, s) or -1 for s in ("BTCUSDT", "ETHUSDT")}
    for message in messages:
        if message["type"] == "RECORD" and message["stream"] == "binance_trades":
            record = message["record"]
            emitted[record["symbol"]] = record["id"]
        elif message["type"] == "STATE":
            for symbol in ("BTCUSDT", "ETHUSDT"):
                mark = bookmark(message["value"], symbol)
                assert mark is None or mark <= emitted.get(symbol, -1), (symbol, mark)


@pytest.mark.slow
def test_restart_after_sigkill_emits_every_trade_exactly_once(sim, tmp_path):
    sim.configure(latency="uniform:2:6")
    start = sim.clock.now() - timedelta(minutes=12)
    config = base_config(sim, symbols=["BTCUSDT", "ETHUSDT"], start_date=iso(start))
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    tap = [sys.executable, "-m", "tap_binance.tap", "--config", str(config_file)]
    process = subprocess.Popen(tap, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen: list[dict] = []
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(json.loads(line))
        if seen[-1]["type"] == "STATE" and bookmark(seen[-1]["value"], "BTCUSDT"):
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert_state_never_ahead_of_records(seen)
    last_state = [m["value"] for m in seen if m["type"] == "STATE"][-1]
    mark = bookmark(last_state, "BTCUSDT")
    assert mark < sim.oracle.newest_id("BTCUSDT")  # killed mid-way, not at the end

    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(last_state))
    rerun = subprocess.run(
        [*tap, "--state", str(state_file)], capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    second = parse_lines(rerun.stdout)
    assert_state_never_ahead_of_records(second, resumed_from=last_state)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        kept = [
            m["record"]["id"]
            for m in seen
            if m["type"] == "RECORD"
            and m["stream"] == "binance_trades"
            and m["record"]["symbol"] == symbol
            and m["record"]["id"] <= (bookmark(last_state, symbol) or -1)
        ]
        again = [
            m["record"]["id"]
            for m in second
            if m["type"] == "RECORD"
            and m["stream"] == "binance_trades"
            and m["record"]["symbol"] == symbol
        ]
        expected = [
            t["id"] for t in sim.oracle.trades(symbol, sim.oracle.id_at_or_after(symbol, start))
        ]
        assert kept + again == expected, symbol


def start_tap(config: dict, folder, name: str) -> subprocess.Popen:
    """Start the tap as a process writing its messages to ``<folder>/<name>.jsonl``."""
    config_file = folder / f"{name}.json"
    config_file.write_text(json.dumps(config))
    out = (folder / f"{name}.jsonl").open("w")
    tap = [sys.executable, "-m", "tap_binance.tap", "--config", str(config_file)]
    return subprocess.Popen(tap, stdout=out, stderr=subprocess.PIPE, text=True)


def start_of_last_trades(sim, count: int) -> datetime:
    """The time of the trade ``count`` ids before the newest one."""
    trade_id = sim.oracle.newest_id("BTCUSDT") - count
    time_us = sim.oracle.trades("BTCUSDT", trade_id, trade_id)[0]["time"]
    return datetime.fromtimestamp(time_us // 1_000_000, UTC)  # whole second: exact in ms


@pytest.mark.slow
def test_weight_budget_throttles_the_tap_and_a_wrong_limit_never_gets_banned(sim_factory, tmp_path):
    """Two runs side by side (both must wait for the next wall-clock minute):

    Each needs ~13 pages (~350 weight): one minute boundary, so the test takes 0-60 s.

    - throttled: the tap may spend 300 x 0.9 a minute and needs ~350: it waits by itself,
      the exchange never answers 429;
    - misconfigured: the exchange allows 300 a minute, the tap believes 6000: it gets a 429,
      waits Retry-After with all its threads, and is never banned (418).
    """
    throttled_sim = sim_factory("binance", seed=7, clock="frozen")
    strict_sim = sim_factory("binance", seed=8, clock="frozen", weight_limit=300)
    start = {sim: start_of_last_trades(sim, 13_000) for sim in (throttled_sim, strict_sim)}
    runs = {
        "throttled": (
            throttled_sim,
            base_config(
                throttled_sim,
                start_date=iso(start[throttled_sim]),
                weight_limit_per_minute=300,
                weight_budget_fraction=0.9,
            ),
        ),
        "misconfigured": (
            strict_sim,
            base_config(strict_sim, start_date=iso(start[strict_sim]), concurrency=3),
        ),
    }
    processes = {name: start_tap(config, tmp_path, name) for name, (_, config) in runs.items()}
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=150)
        assert process.returncode == 0, (name, stderr[-2000:])
    for name, (simulator, _) in runs.items():
        messages = parse_lines((tmp_path / f"{name}.jsonl").read_text())
        trades = [
            m["record"]["id"]
            for m in messages
            if m["type"] == "RECORD" and m["stream"] == "binance_trades"
        ]
        first = simulator.oracle.id_at_or_after("BTCUSDT", start[simulator])
        assert trades == [t["id"] for t in simulator.oracle.trades("BTCUSDT", first)], name
        assert simulator.stats.responses_418 == 0, name
    per_minute = throttled_sim.stats.snapshot()["weight_per_minute"]
    assert len(per_minute) >= 2, per_minute
    assert max(per_minute.values()) <= 300, per_minute
    assert throttled_sim.stats.responses_429 == 0
    assert strict_sim.stats.responses_429 >= 1
