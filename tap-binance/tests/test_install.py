"""`pip install ./schemahub-core ./tap-binance` works in a new virtualenv."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from schemahub_core.testing import install_in_fresh_virtualenv

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tap_installs_with_schemahub_core_alone_in_a_fresh_virtualenv(tmp_path):
    bin_dir, env = install_in_fresh_virtualenv(
        tmp_path / "venv", REPO_ROOT / "schemahub-core", REPO_ROOT / "tap-binance"
    )
    about = subprocess.run(
        [str(bin_dir / "tap-binance"), "--about", "--format", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert about.returncode == 0, about.stderr[-3000:]
    assert '"name": "tap-binance"' in about.stdout
    assert "weight_budget_fraction" in about.stdout
    assert "backfill_source" in about.stdout
