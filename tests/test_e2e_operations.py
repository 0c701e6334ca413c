"""The operations of docs/operations.md, done exactly as written: backfill after incremental,
`make run` on a machine that cannot reach an exchange, `make demo` with a port taken."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from schemahub_core.check import check_unified_table
from schemahub_core.testing import free_port

ROOT = Path(__file__).resolve().parent.parent
STATE_ID = "dev:tap-coinbase-to-target-s3-parquet"


def watermarks(project, state_id: str) -> dict[str, int]:
    """The coinbase_trades bookmarks Meltano holds under `state_id`."""
    state = json.loads(project.run("state", "get", state_id).stdout)
    partitions = state["singer_state"]["bookmarks"]["coinbase_trades"]["partitions"]
    return {p["context"]["product_id"]: int(p["replication_key_value"]) for p in partitions}


def test_backfill_after_incremental_lands_older_history_without_duplicates(
    meltano_project, exchanges, truth, tmp_path: Path
) -> None:
    output = str(tmp_path / "output")
    sim, oracle = exchanges.coinbase, exchanges.coinbase.oracle
    now = sim.clock.now()
    meltano_project.env["TAP_COINBASE_PRODUCT_IDS"] = '["BTC-USD"]'

    # Incremental ingestion has been running from a recent start.
    recent = now - dt.timedelta(minutes=2)
    meltano_project.env["TAP_COINBASE_START_DATE"] = recent.isoformat()
    meltano_project.run("run", "ingest-coinbase")
    incremental_mark = oracle.newest_id("BTC-USD")  # what its state must hold (checked below)

    # Later, older history is wanted: the documented backfill under its own state id.
    exchanges.advance(20)
    older = now - dt.timedelta(minutes=8)
    meltano_project.env["TAP_COINBASE_START_DATE"] = older.isoformat()
    meltano_project.run(
        "run", "--state-id-suffix", "backfill-older", "tap-coinbase", "target-s3-parquet"
    )

    first = oracle.id_at_or_after("BTC-USD", older)
    assert first < oracle.id_at_or_after("BTC-USD", recent) - 100, "no older history: vacuous"
    expected = truth.coinbase(sim, "BTC-USD", first, oracle.newest_id("BTC-USD"))
    assert truth.table(output, "COINBASE", "BTC-USD") == expected
    # The schedule's bookmarks were not touched; the backfill has its own.
    assert watermarks(meltano_project, STATE_ID)["BTC-USD"] == incremental_mark
    backfill_mark = watermarks(meltano_project, f"{STATE_ID}:backfill-older")["BTC-USD"]
    assert backfill_mark == oracle.newest_id("BTC-USD")
    report = check_unified_table(output)
    assert report.ok, report.problems
    assert report.symbols[0].missing_trade_ids == 0, report.problems


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_run(env_overrides: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """`make run`'s command (scripts/pipeline.py run) with the taps' api_url overridden."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_")}
    env.update(env_overrides, MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}")
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pipeline.py"), "run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_run_stops_with_one_clear_line_when_an_exchange_is_unreachable(
    exchanges, tmp_path: Path
) -> None:
    unreachable = f"http://127.0.0.1:{closed_port()}"
    result = make_run({"TAP_COINBASE_API_URL": unreachable}, tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot reach Coinbase at {unreachable}" in lines[0]
    assert "make demo" in lines[0]

    # Coinbase answers (a simulator), Binance does not: the line names Binance.
    result = make_run(
        {"TAP_COINBASE_API_URL": exchanges.coinbase.url, "TAP_BINANCE_API_URL": unreachable},
        tmp_path,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot reach Binance at {unreachable}" in lines[0]


def load_pipeline_script():
    """scripts/pipeline.py (`make run` / `make demo`) as a module."""
    spec = importlib.util.spec_from_file_location("pipeline", ROOT / "scripts" / "pipeline.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_demo_with_a_port_taken_stops_before_deleting_the_demo_data(
    tmp_path: Path, monkeypatch
) -> None:
    pipeline = load_pipeline_script()
    earlier_demo = tmp_path / "output" / "demo"
    (earlier_demo / "raw").mkdir(parents=True)
    (earlier_demo / "raw" / "part.jsonl.gz").write_bytes(b"an earlier demo's data")
    meltano_calls: list[tuple[str, ...]] = []

    def meltano(*args: str, **_: object) -> subprocess.CompletedProcess:
        meltano_calls.append(args)  # `state clear` would drop the earlier demo's state
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(pipeline, "DEMO_OUTPUT", earlier_demo)
    monkeypatch.setattr(pipeline, "meltano", meltano)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(pipeline, "DEMO_PORTS", {"coinbase": free_port(), "binance": port})
        with pytest.raises(SystemExit) as stop:
            pipeline.main(["demo"])
    assert f"port {port}" in str(stop.value.code)
    assert "binance" in str(stop.value.code)
    assert (earlier_demo / "raw" / "part.jsonl.gz").read_bytes() == b"an earlier demo's data"
    assert meltano_calls == []
