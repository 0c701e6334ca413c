"""`pip install ./schemahub-core ./tap-binance` works in a new virtualenv."""

from __future__ import annotations

from pathlib import Path

import pytest
from schemahub_core.testing import about, install_in_fresh_virtualenv

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tap_installs_with_schemahub_core_alone_in_a_fresh_virtualenv(tmp_path):
    bin_dir, env = install_in_fresh_virtualenv(
        tmp_path / "venv", REPO_ROOT / "schemahub-core", REPO_ROOT / "tap-binance"
    )
    described = about(bin_dir / "tap-binance", env)
    assert described["name"] == "tap-binance"
    assert {"weight_budget_fraction", "backfill_source"} <= set(described["settings"]["properties"])
