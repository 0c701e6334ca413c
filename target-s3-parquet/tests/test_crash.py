"""kill -9 at random instants, each rerun resuming from the last or an earlier printed STATE.

A chain of runs on one table: each run feeds two symbols in blocks (a STATE after each block)
with small commits, resuming from a STATE printed by one of the previous runs (the last one,
or an earlier one, or none at all), and is killed with SIGKILL after a random number of
relayed STATEs plus a random few milliseconds, so kills land all over the commit protocol
(staging, commit record, publish, raw layer, STATE relay). After every kill: readers see only
complete Parquet files, no duplicate, and every trade the run's printed STATEs claim. A final
run from the newest STATE completes the input: every trade exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from target_s3_parquet.synthetic import binance_record, record_line, schema_line
from target_s3_parquet.testing import (
    Output,
    assert_exactly_once,
    make_s3_output,
    read_unified,
    target_command,
    trade_counts,
    write_config,
)

SYMBOLS = ("BTCUSDT", "ETHUSDT")
LAST_ID = 600
BLOCK = 50
BATCH_ROWS = 100
KILLS = 10


def _state(position: dict[str, int]) -> str:
    partitions = [{"context": {"symbol": s}, "replication_key_value": position[s]} for s in SYMBOLS]
    value = {"bookmarks": {"binance_trades": {"partitions": partitions}}}
    return json.dumps({"type": "STATE", "value": value})


def _input(start_after: dict[str, int]) -> str:
    """Blocks of each symbol in turn, as a tap with two partitions emits them, with STATEs."""
    lines = [schema_line("binance_trades")]
    position = dict(start_after)
    while any(position[s] < LAST_ID for s in SYMBOLS):
        for symbol in SYMBOLS:
            end = min(position[symbol] + BLOCK, LAST_ID)
            lines += [
                record_line("binance_trades", binance_record(symbol, trade_id))
                for trade_id in range(position[symbol] + 1, end + 1)
            ]
            position[symbol] = end
            lines.append(_state(position))
    return "\n".join(lines) + "\n"


def _bookmarks(state: dict | None) -> dict[str, int]:
    if state is None:
        return dict.fromkeys(SYMBOLS, 0)
    partitions = state["bookmarks"]["binance_trades"]["partitions"]
    return {p["context"]["symbol"]: p["replication_key_value"] for p in partitions}


def _assert_nothing_partial_or_duplicated(output: Output) -> None:
    fs, root = output.filesystem_and_root
    for key in output.keys("unified/trades_unified"):
        assert key.endswith(".parquet"), f"non-Parquet object visible to readers: {key}"
        with fs.open_input_file(f"{root}/{key}") as handle:
            pq.read_table(handle)  # a partial file would fail to read
    counts = trade_counts(read_unified(output))
    assert all(c == 1 for c in counts.values()), "duplicate visible right after the crash"


def _kill_after_random_point(config: Path, start: dict[str, int], rng: random.Random) -> list[dict]:
    """Run from `start`; SIGKILL after n STATE lines + a few ms; return the printed STATEs."""
    proc = subprocess.Popen(
        target_command(config),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(_input(start))
    proc.stdin.close()
    printed = []
    for _ in range(rng.randrange(0, 2 * LAST_ID // BLOCK)):  # ~ the STATEs of a full run
        line = proc.stdout.readline()
        if not line:
            break
        printed.append(json.loads(line))
    time.sleep(rng.uniform(0, 0.03))
    os.kill(proc.pid, signal.SIGKILL)
    printed += [json.loads(line) for line in proc.stdout.read().splitlines() if line]
    proc.wait()
    return printed


def _assert_claimed_trades_present(output: Output, printed: list[dict]) -> None:
    """A printed STATE is a promise: every trade up to its bookmarks is committed."""
    if not printed:
        return
    claimed = _bookmarks(printed[-1])
    table = read_unified(output)
    ids = pc.cast(table["trade_id"], "int64")
    covered = pc.or_(
        pc.and_(pc.equal(table["symbol"], SYMBOLS[0]), pc.less_equal(ids, claimed[SYMBOLS[0]])),
        pc.and_(pc.equal(table["symbol"], SYMBOLS[1]), pc.less_equal(ids, claimed[SYMBOLS[1]])),
    )
    assert_exactly_once(
        table.filter(covered), {("BINANCE", s): range(1, claimed[s] + 1) for s in SYMBOLS}
    )


def _crash_chain(output: Output, tmp_path: Path, seed: int, kills: int = KILLS) -> None:
    rng = random.Random(seed)
    config = write_config(tmp_path, {**output.config, "batch_size_rows": BATCH_ROWS})
    stored: list[dict] = []  # every STATE any run printed, oldest first
    for kill in range(kills):
        resume = rng.choice([stored[-1], rng.choice([None, *stored])]) if stored else None
        if resume is not None and min(_bookmarks(resume).values()) == LAST_ID:
            resume = None  # that run finished everything: replay it all from no state
        printed = _kill_after_random_point(config, _bookmarks(resume), rng)
        _assert_nothing_partial_or_duplicated(output)
        _assert_claimed_trades_present(output, printed)
        stored += printed
        print(f"kill {kill}: resumed from {_bookmarks(resume)}, printed {len(printed)} states")
    final = subprocess.run(
        target_command(config),
        input=_input(_bookmarks(stored[-1] if stored else None)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert final.returncode == 0, f"seed {seed}: {final.stderr[-3000:]}"
    assert_exactly_once(
        read_unified(output), {("BINANCE", s): range(1, LAST_ID + 1) for s in SYMBOLS}
    )


def test_kill_9_anywhere_then_rerun_loses_and_duplicates_nothing_local(local_output, tmp_path):
    _crash_chain(local_output, tmp_path, seed=int(os.environ.get("CRASH_SEED", "6")))


def test_kill_9_anywhere_then_rerun_loses_and_duplicates_nothing_s3(moto_endpoint, tmp_path):
    _crash_chain(
        make_s3_output(moto_endpoint), tmp_path, seed=int(os.environ.get("CRASH_SEED", "7"))
    )


@pytest.mark.slow
def test_kill_9_anywhere_then_rerun_loses_and_duplicates_nothing_iceberg_s3(
    moto_endpoint, tmp_path
):
    # One Iceberg chain (S3 warehouse, SQLite catalog), fewer kills: a commit there is one
    # catalog transaction, so far fewer distinct crash points than the Hive protocol has.
    output = make_s3_output(moto_endpoint, "iceberg", tmp_path)
    _crash_chain(output, tmp_path, seed=int(os.environ.get("CRASH_SEED", "9")), kills=5)
