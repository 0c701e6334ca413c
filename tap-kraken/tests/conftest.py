"""Fixtures for the tap-kraken tests: simulators on loopback (schemahub-core)."""

import sys
from pathlib import Path

from schemahub_core.sim.pytest_plugin import sim_factory

# --import-mode=importlib keeps test folders off sys.path; the shared helper module lives here
# under a name no other package uses.
sys.path.insert(0, str(Path(__file__).parent))

__all__ = ["sim_factory"]
