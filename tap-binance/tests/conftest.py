"""Fixtures of the tap-binance tests; helpers live in tap_binance_testkit (importable here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib (no rootdir on sys.path): make the helpers
# module of this folder importable by the test modules.
sys.path.insert(0, str(Path(__file__).parent))

from schemahub_core.sim import start_simulator
from schemahub_core.sim.pytest_plugin import sim_factory

__all__ = ["sim_factory"]  # re-exported fixture: simulators started and stopped per test


@pytest.fixture
def sim():
    """A fresh Binance simulator (seed 5, frozen clock at the current time)."""
    simulator = start_simulator("binance", seed=5, port=0, clock="frozen")
    yield simulator
    simulator.stop()
