"""`make demo` ends with "Explore:" and commands that work when pasted into a shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from target_s3_parquet.synthetic import trade_lines
from target_s3_parquet.testing import run_in_process

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import pipeline  # noqa: E402  (scripts/ is not a package)


@pytest.mark.slow
def test_explore_commands_run_as_pasted(tmp_path: Path) -> None:
    output = tmp_path / "demo"
    run_in_process({"output_uri": str(output)}, trade_lines("coinbase_trades", "BTC-USD", 1, 50))
    lines = pipeline.explore_commands(str(output)).splitlines()
    assert lines[0] == "Explore:"
    commands = [line.strip() for line in lines[1:]]
    assert [c.split()[1] for c in commands] == ["check", "query", "report"]
    # Side by side: they only read the table (report writes its own page), and each spends
    # most of its time importing pyiceberg and DuckDB.
    running = [
        subprocess.Popen(
            command, shell=True, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for command in commands
    ]
    for command, process in zip(commands, running, strict=True):
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"{command}\n{stderr}"
    assert (output / "report.html").stat().st_size > 1_000_000  # plotly.js inlined
