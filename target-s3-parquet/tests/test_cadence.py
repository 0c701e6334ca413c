"""max_batch_age_seconds holds even when the tap goes quiet mid-batch: the queued records are
committed and their STATE relayed while stdin stays open with no new line."""

from __future__ import annotations

import select
import subprocess
import time

from target_s3_parquet.synthetic import state_line, trade_lines
from target_s3_parquet.testing import (
    assert_exactly_once,
    read_unified,
    target_command,
    write_config,
)

MAX_AGE = 1.0
SLACK = 8.0  # interpreter start-up and a loaded CI machine


def test_a_quiet_input_still_commits_the_open_batch_when_it_reaches_its_age(local_output, tmp_path):
    config = {**local_output.config, "max_batch_age_seconds": MAX_AGE, "batch_size_rows": 10_000}
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
            f"{MAX_AGE}); the open batch waited for a next line"
        )
        state_text = proc.stdout.readline().decode()
        waited = time.monotonic() - written
        assert proc.poll() is None, "the target exited: stdin was still open"
        # The commit came from the batch age, not from anything else: not before it.
        assert waited >= MAX_AGE * 0.9
        assert '"replication_key_value": 25' in state_text
        # The STATE was relayed after the data it covers was committed.
        assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 26)})
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
