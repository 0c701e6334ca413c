"""tap-kraken installs without the rest of the repository and syncs from a simulator."""

from __future__ import annotations

import pytest
from schemahub_core.testing import installed_tap, sync_with_program
from tap_kraken_testkit import parse_messages, tap_config


@pytest.mark.slow
def test_pip_install_core_and_tap_in_a_fresh_virtualenv_then_about_and_sync(sim_factory, tmp_path):
    settings = ("api_url", "pairs", "start_date", "lookback_minutes", "max_requests_per_second")
    tap, env = installed_tap(__file__, tmp_path / "venv", settings)
    sim = sim_factory("kraken", seed=81, rate_limit=False)
    stdout = sync_with_program(tap, tap_config(sim, lookback_minutes=2), tmp_path, env)
    trades = parse_messages(stdout).as_served("XBTUSD")
    assert trades
    assert trades == sim.oracle.trades("XBTUSD", trades[0][6])
