"""Run tap-kraken in-process against a simulator and split its Singer output."""

from __future__ import annotations

from typing import Any

from schemahub_core.testing import SingerOutput, partition_state, sync_in_process
from tap_kraken.streams import TRADE_FIELDS
from tap_kraken.tap import TapKraken


class SyncOutput(SingerOutput):
    """The messages of one tap run, with Kraken's trades per pair."""

    def trades(self, pair: str) -> list[dict[str, Any]]:
        """The kraken_trades records of one pair, in emission order."""
        return [r for r in self.records.get("kraken_trades", []) if r["pair"] == pair]

    def as_served(self, pair: str) -> list[list[Any]]:
        """Those records as Kraken's rows, comparable with the oracle."""
        return [[r[name] for name in TRADE_FIELDS] for r in self.trades(pair)]


def parse_messages(text: str) -> SyncOutput:
    """Split Singer lines into records per stream and state values."""
    return SyncOutput.parse(text)


def run_tap(config: dict[str, Any], state: dict[str, Any] | None = None) -> SyncOutput:
    """Sync every stream in-process; return the parsed stdout."""
    return SyncOutput.parse(sync_in_process(TapKraken, config, state))


def partition(state: dict[str, Any], pair: str) -> dict[str, Any]:
    """The kraken_trades partition state of one pair ({} if none)."""
    return partition_state(state, "kraken_trades", {"pair": pair})


def bookmark(state: dict[str, Any], pair: str) -> int | None:
    """The `trade_id` watermark of one pair in a Singer state, or None."""
    return partition(state, pair).get("replication_key_value")


def tap_config(sim, **overrides: Any) -> dict[str, Any]:
    """Config for a fast run against an unthrottled simulator."""
    config = {
        "api_url": sim.url,
        "pairs": ["XBTUSD", "SOLUSD"],
        "max_requests_per_second": 1000,
        "lookback_minutes": 20,
    }
    config.update(overrides)
    return config
