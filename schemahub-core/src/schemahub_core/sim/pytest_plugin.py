"""pytest fixtures that start simulators on free loopback ports.

Load with `pytest_plugins = ["schemahub_core.sim.pytest_plugin"]` in a root conftest, or
import the fixtures into a package conftest:
`from schemahub_core.sim.pytest_plugin import coinbase_sim, binance_sim, sim_factory`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from schemahub_core.sim.simulator import Simulator

SimFactory = Callable[..., Simulator]


@pytest.fixture
def sim_factory() -> Iterator[SimFactory]:
    """`sim_factory("coinbase", seed=.., **options)`: started at once, stopped after the test."""
    started: list[Simulator] = []

    def make(exchange: str, **options: Any) -> Simulator:
        sim = Simulator(exchange, **options).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def coinbase_sim(sim_factory: SimFactory) -> Simulator:
    """A Coinbase simulator (seed 1, frozen clock, real rate limits) for one test."""
    return sim_factory("coinbase", seed=1, clock="frozen")


@pytest.fixture
def binance_sim(sim_factory: SimFactory) -> Simulator:
    """A Binance simulator (seed 1, frozen clock, real weight limits) for one test."""
    return sim_factory("binance", seed=1, clock="frozen")
