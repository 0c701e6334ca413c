"""`pip install ./schemahub-core ./tap-binance` works in a new virtualenv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tap_installs_with_schemahub_core_alone_in_a_fresh_virtualenv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "./schemahub-core",
         "./tap-binance"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    about = subprocess.run(
        [str(venv / "bin" / "tap-binance"), "--about", "--format", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert about.returncode == 0, about.stderr[-3000:]
    assert '"name": "tap-binance"' in about.stdout
    assert "weight_budget_fraction" in about.stdout and "backfill_source" in about.stdout
