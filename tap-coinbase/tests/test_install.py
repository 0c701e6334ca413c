"""tap-coinbase installs without the rest of the repository and syncs from a simulator."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from schemahub_core.testing import install_in_fresh_virtualenv
from tap_coinbase_testkit import parse_messages, tap_config

PACKAGE_DIR = Path(__file__).resolve().parents[1]
CORE_DIR = PACKAGE_DIR.parent / "schemahub-core"


@pytest.mark.slow
def test_pip_install_core_and_tap_in_a_fresh_virtualenv_then_about_and_sync(sim_factory, tmp_path):
    bin_dir, env = install_in_fresh_virtualenv(tmp_path / "venv", CORE_DIR, PACKAGE_DIR)
    tap = bin_dir / "tap-coinbase"

    about = subprocess.run(
        [str(tap), "--about", "--format=json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert about.returncode == 0, about.stderr
    settings = json.loads(about.stdout)["settings"]["properties"]
    for name in ("api_url", "product_ids", "start_date", "lookback_minutes", "page_size"):
        assert settings[name]["description"], name

    sim = sim_factory("coinbase", seed=81, rate_limit=False)
    (tmp_path / "config.json").write_text(json.dumps(tap_config(sim, lookback_minutes=1)))
    sync = subprocess.run(
        [str(tap), "--config", "config.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sync.returncode == 0, sync.stderr[-2000:]
    out = parse_messages(sync.stdout)
    trades = out.as_served("BTC-USD")
    assert trades
    assert trades == sim.oracle.trades("BTC-USD", trades[0]["trade_id"])
