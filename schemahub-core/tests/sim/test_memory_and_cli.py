"""A deep history stays lazy (flat memory), and `schemahub sim` runs as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
from schemahub_core.sim import Simulator

HISTORY = 5_000_000


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_five_million_trade_history_serves_start_middle_end_with_flat_memory():
    before = rss_mb()
    with Simulator("coinbase", seed=11, history_trades=HISTORY, rate_limit=False) as sim:
        oracle = sim.oracle
        first, newest = oracle.first_id("BTC-USD"), oracle.newest_id("BTC-USD")
        assert newest - first + 1 >= HISTORY
        session = requests.Session()

        def fetch(after: int) -> list:
            trades = session.get(
                f"{sim.url}/products/BTC-USD/trades", params={"after": after}
            ).json()
            assert trades
            assert trades[0]["trade_id"] == min(after - 1, newest)
            return trades

        oldest = fetch(first + 1000)
        assert oldest[-1]["trade_id"] == first
        fetch((first + newest) // 2)
        fetch(newest + 1)
        # Sweep the whole id range twice, 80 pages each: more blocks than the cache holds.
        stride = (newest - first) // 80
        fetch_all = [first + 1000 + i * stride for i in range(80)]
        for after in fetch_all:
            fetch(after)
        after_first_sweep = rss_mb()
        for after in reversed(fetch_all):
            fetch(after)
        after_second_sweep = rss_mb()
    grown = after_second_sweep - before
    # Materialised, 5M trades would take well over 1 GB of Python objects.
    assert grown < 80, f"RSS grew {grown:.0f} MB serving a 5M-trade history"
    assert after_second_sweep - after_first_sweep < 10, "memory keeps growing with pages served"


def test_schemahub_sim_command_serves_until_terminated():
    command = Path(sys.executable).with_name("schemahub")
    process = subprocess.Popen(
        [str(command), "sim", "binance", "--port", "0", "--clock", "frozen", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "binance simulator listening on http://127.0.0.1:" in line, line
        url = line.split(" on ")[1].split()[0]
        response = requests.get(
            f"{url}/api/v3/historicalTrades", params={"symbol": "BTCUSDT"}, timeout=10
        )
        assert response.status_code == 200
        assert len(response.json()) == 500
        assert response.headers["X-MBX-USED-WEIGHT-1M"] == "25"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, process.stderr.read()


def test_schemahub_sim_rejects_bad_flags_with_a_clear_message():
    command = Path(sys.executable).with_name("schemahub")
    result = subprocess.run(
        [str(command), "sim", "coinbase", "--port", "0", "--latency", "fast"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "latency 'fast' not understood" in result.stderr
