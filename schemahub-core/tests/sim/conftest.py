"""Simulator fixtures for the simulator's own contract tests."""

from schemahub_core.sim.pytest_plugin import binance_sim, coinbase_sim, sim_factory

__all__ = ["binance_sim", "coinbase_sim", "sim_factory"]
