"""max_batch_age_seconds holds even when the tap goes quiet: records queued in the open batch,
or trades staged for a later Iceberg commit, are committed and their STATE relayed while
stdin stays open with no new line."""

from __future__ import annotations

import json
import select
import subprocess
import time
from pathlib import Path

from target_s3_parquet.synthetic import state_line, trade_lines
from target_s3_parquet.testing import (
    assert_exactly_once,
    read_iceberg,
    read_unified,
    target_command,
    watermark,
    write_config,
)

MAX_AGE = 1.0
SLACK = 8.0  # interpreter start-up and a loaded CI machine


def _first_state_of_a_quiet_run(tmp_path: Path, config: dict, check_data) -> dict:
    """Feed 25 trades and STATE 25, leave stdin open and quiet; the first STATE printed.

    `check_data` runs while the target still waits on its open stdin.
    """
    proc = subprocess.Popen(
        target_command(write_config(tmp_path, config)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        lines = [*trade_lines("coinbase_trades", "BTC-USD", 1, 25)]
        lines.append(state_line("coinbase_trades", "BTC-USD", 25))
        proc.stdin.write(("\n".join(lines) + "\n").encode())
        proc.stdin.flush()  # ... and then nothing more, with stdin left open
        written = time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], MAX_AGE + SLACK)
        assert ready, (
            f"no STATE within {MAX_AGE + SLACK}s of a quiet input (max_batch_age_seconds="
            f"{MAX_AGE}); the trades waited for a next line"
        )
        state = json.loads(proc.stdout.readline())
        waited = time.monotonic() - written
        assert proc.poll() is None, "the target exited: stdin was still open"
        # The commit came from the age, not from anything else: not before it.
        assert waited >= MAX_AGE * 0.9
        check_data()  # the STATE was relayed after the data it covers was committed
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    return state


def test_a_quiet_input_still_commits_the_open_batch_when_it_reaches_its_age(local_output, tmp_path):
    config = {**local_output.config, "max_batch_age_seconds": MAX_AGE, "batch_size_rows": 10_000}
    expected = {("COINBASE", "BTC-USD"): range(1, 26)}

    state = _first_state_of_a_quiet_run(
        tmp_path, config, lambda: assert_exactly_once(read_unified(local_output), expected)
    )

    assert watermark(state, "coinbase_trades") == 25


def test_a_quiet_input_commits_staged_trades_when_they_reach_their_age(iceberg_output, tmp_path):
    # The batch is full (25 records) at once, so it is handed over and staged at once; only
    # the age of the staged trades can commit them (the commit thread's idle commit).
    config = {
        **iceberg_output.config,
        "batch_size_rows": 25,
        "iceberg_commit_rows": 1000,
        "max_batch_age_seconds": MAX_AGE,
    }
    expected = {("COINBASE", "BTC-USD"): range(1, 26)}

    state = _first_state_of_a_quiet_run(
        tmp_path, config, lambda: assert_exactly_once(read_iceberg(config), expected)
    )

    assert watermark(state, "coinbase_trades") == 25
