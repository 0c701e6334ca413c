"""SIGKILL mid-backfill, restart from the last STATE printed: no trade is missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tap_coinbase_testkit import bookmark, run_tap, state_at, tap_config

TAP = Path(sys.executable).parent / "tap-coinbase"


def test_restart_after_sigkill_from_last_printed_state_loses_no_trade(sim_factory, tmp_path):
    sim = sim_factory("coinbase", seed=71, rate_limit=False)
    oracle = sim.oracle
    newest = oracle.newest_id("BTC-USD")
    start = newest - 60_000
    # 20 requests/s makes the 61-page backfill last about 3 s: time to kill it mid-way.
    config = tap_config(sim, max_requests_per_second=20, concurrency=4)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "state.json").write_text(json.dumps(state_at({"BTC-USD": start})))

    tap = subprocess.Popen(
        [str(TAP), "--config", "config.json", "--state", "state.json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    first_run: list[int] = []
    last_state = None
    states_seen = 0
    try:
        for line in tap.stdout:
            message = json.loads(line)
            if message["type"] == "RECORD" and message["stream"] == "coinbase_trades":
                first_run.append(message["record"]["trade_id"])
            elif message["type"] == "STATE":
                last_state = message["value"]
                if bookmark(last_state, "BTC-USD") not in (None, start):
                    states_seen += 1
                if states_seen == 2:
                    os.kill(tap.pid, signal.SIGKILL)
                    break
    finally:
        tap.kill()
        tap.wait(timeout=30)
    assert tap.returncode == -signal.SIGKILL
    killed_at = bookmark(last_state, "BTC-USD")
    assert start < killed_at < newest, "the tap was not killed mid-backfill"
    assert killed_at <= first_run[-1], "a STATE covered records not yet written"

    second = run_tap(config, state=last_state)

    second_run = [r["trade_id"] for r in second.trades("BTC-USD")]
    assert second_run[0] == killed_at + 1  # resumes right after the watermark
    expected = [t["trade_id"] for t in oracle.trades("BTC-USD", start + 1)]
    assert sorted(set(first_run) | set(second_run)) == expected
    assert bookmark(second.final_state, "BTC-USD") == newest
