"""Run the tap in-process against a simulator and split its Singer output."""

from __future__ import annotations

from typing import Any

from schemahub_core.testing import SingerOutput, partition_state, sync_in_process
from tap_coinbase.tap import TapCoinbase

TRADE_FIELDS = ("trade_id", "side", "size", "price", "time")


class SyncOutput(SingerOutput):
    """The messages of one tap run, with Coinbase's trades per product."""

    def trades(self, product_id: str) -> list[dict[str, Any]]:
        """The coinbase_trades records of one product, in emission order."""
        return [r for r in self.records.get("coinbase_trades", []) if r["product_id"] == product_id]

    def as_served(self, product_id: str) -> list[dict[str, Any]]:
        """Those records reduced to Coinbase's own fields, comparable with the oracle."""
        return [{k: r[k] for k in TRADE_FIELDS} for r in self.trades(product_id)]


def parse_messages(text: str) -> SyncOutput:
    """Split Singer lines into records per stream and state values."""
    return SyncOutput.parse(text)


def run_tap(config: dict[str, Any], state: dict[str, Any] | None = None) -> SyncOutput:
    """Sync every stream in-process; return the parsed stdout."""
    return SyncOutput.parse(sync_in_process(TapCoinbase, config, state))


def bookmark(state: dict[str, Any], product_id: str) -> int | None:
    """The `trade_id` watermark of one product in a Singer state, or None."""
    context = {"product_id": product_id}
    return partition_state(state, "coinbase_trades", context).get("replication_key_value")


def state_at(watermarks: dict[str, int]) -> dict[str, Any]:
    """A Singer state holding the given watermark per product."""
    return {
        "bookmarks": {
            "coinbase_trades": {
                "partitions": [
                    {
                        "context": {"product_id": pid},
                        "replication_key": "trade_id",
                        "replication_key_value": wm,
                    }
                    for pid, wm in watermarks.items()
                ]
            }
        }
    }


def tap_config(sim, **overrides: Any) -> dict[str, Any]:
    """Config for a fast run against an unthrottled simulator."""
    config = {
        "api_url": sim.url,
        "product_ids": ["BTC-USD"],
        "max_requests_per_second": 1000,
        "concurrency": 4,
        "lookback_minutes": 2,
    }
    config.update(overrides)
    return config
