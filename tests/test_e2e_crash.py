"""Crash recovery through Meltano: SIGKILL the whole `meltano run` at random points.

After every kill the run is restarted (with `--force`, since Meltano keeps the killed run
marked as running); the final table must hold every trade of the window exactly once. The
last restart goes without `--force` once the dead run's heartbeat is older than Meltano's
5-minute limit: what a scheduled run 30 minutes later meets.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import time
from pathlib import Path

from schemahub_core.check import check_unified_table

WINDOW = dt.timedelta(minutes=30)  # ~16k trades: no kill can find the run finished
KILLS = 3


def committed_files(output: Path) -> int:
    """How many Parquet data files the target has written so far (Iceberg: under
    schemahub/trades_unified/data/, each committed right after it is written)."""
    return sum(1 for _ in output.rglob("*.parquet"))


def wait_for_new_commit(output: Path, before: int, process, timeout: float = 90) -> bool:
    """Block until this run committed a new Parquet file; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if committed_files(output) > before:
            return True
        time.sleep(0.05)
    return False


def age_running_heartbeats(database: Path, minutes: float) -> int:
    """Pretend the killed runs stopped heartbeating `minutes` ago; return how many."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT id, last_heartbeat_at FROM runs WHERE state = 'RUNNING'")
        running = rows.fetchall()
        for run_id, heartbeat in running:
            aged = dt.datetime.fromisoformat(heartbeat) - dt.timedelta(minutes=minutes)
            db.execute(
                "UPDATE runs SET last_heartbeat_at = ? WHERE id = ?",
                (aged.isoformat(sep=" "), run_id),
            )
    return len(running)


def test_killed_runs_rerun_with_force_leave_every_trade_exactly_once(
    meltano_project, exchanges, truth, tmp_path: Path
) -> None:
    rng = random.Random(20261125)
    output = tmp_path / "output"
    start = exchanges.coinbase.clock.now() - WINDOW
    meltano_project.env.update(
        TAP_COINBASE_PRODUCT_IDS='["BTC-USD"]',
        TAP_COINBASE_START_DATE=start.isoformat(),
        # Small sequential pages and frequent commits: a run of ~10 s with many commits,
        # so kills land before, between and during them.
        TAP_COINBASE_PAGE_SIZE="100",
        TAP_COINBASE_CONCURRENCY="1",
        TARGET_S3_PARQUET_MAX_BATCH_AGE_SECONDS="1",
    )
    exchanges.coinbase.configure(latency="uniform:40:80")
    log = tmp_path / "meltano.log"

    for trial in range(KILLS):
        args = ("run", "ingest-coinbase") if trial == 0 else ("run", "--force", "ingest-coinbase")
        before = committed_files(output)
        process = meltano_project.start(*args, log=log)
        if trial == 0:
            time.sleep(rng.uniform(1.0, 6.0))  # anywhere: startup, discovery, first pages
        else:
            # Mid-stream: after this run committed something, between or during commits.
            assert wait_for_new_commit(output, before, process), f"run {trial}: no commit"
            time.sleep(rng.uniform(0.0, 1.5))
        assert process.poll() is None, f"run {trial} finished before the kill: {log}"
        meltano_project.kill_group(process)
        exchanges.advance(rng.uniform(0, 20))  # the market moves on while nobody ingests

    # Without --force the dead run still blocks the pipeline...
    refused = meltano_project.run("run", "ingest-coinbase", check=False)
    assert refused.returncode != 0
    assert "already running" in refused.stderr
    assert "--force" in refused.stderr
    # ...until its heartbeat is 5 minutes old; then a plain (scheduled) run goes through.
    database = Path(meltano_project.env["MELTANO_DATABASE_URI"].removeprefix("sqlite:///"))
    assert age_running_heartbeats(database, minutes=6) >= 1
    meltano_project.run("run", "ingest-coinbase", timeout=240)

    oracle = exchanges.coinbase.oracle
    first = oracle.id_at_or_after("BTC-USD", start)
    expected = truth.coinbase(exchanges.coinbase, "BTC-USD", first, oracle.newest_id("BTC-USD"))
    assert truth.table(str(output), "COINBASE", "BTC-USD") == expected
    report = check_unified_table(str(output))
    assert report.ok, report.problems
    symbol = report.symbols[0]
    assert (symbol.duplicate_trade_ids, symbol.missing_trade_ids) == (0, 0)
    assert symbol.rows == len(expected)
