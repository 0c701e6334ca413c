"""tap-kraken installs without the rest of the repository and syncs from a simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from schemahub_core.testing import about, install_in_fresh_virtualenv, sync_with_program
from tap_kraken_testkit import parse_messages, tap_config

PACKAGE_DIR = Path(__file__).resolve().parents[1]
CORE_DIR = PACKAGE_DIR.parent / "schemahub-core"


@pytest.mark.slow
def test_pip_install_core_and_tap_in_a_fresh_virtualenv_then_about_and_sync(sim_factory, tmp_path):
    bin_dir, env = install_in_fresh_virtualenv(tmp_path / "venv", CORE_DIR, PACKAGE_DIR)
    tap = bin_dir / "tap-kraken"
    settings = about(tap, env)["settings"]["properties"]
    for name in ("api_url", "pairs", "start_date", "lookback_minutes", "max_requests_per_second"):
        assert settings[name]["description"], name

    sim = sim_factory("kraken", seed=81, rate_limit=False)
    stdout = sync_with_program(tap, tap_config(sim, lookback_minutes=2), tmp_path, env)
    trades = parse_messages(stdout).as_served("XBTUSD")
    assert trades
    assert trades == sim.oracle.trades("XBTUSD", trades[0][6])
