"""Local exchange simulators (Coinbase, Binance, Kraken) with a ground-truth oracle and faults.

from schemahub_core.sim import start_simulator
with start_simulator("coinbase", seed=1) as sim:
    requests.get(f"{sim.url}/products/BTC-USD/trades")
"""

from schemahub_core.sim.simulator import Simulator, start_simulator

__all__ = ["Simulator", "start_simulator"]
