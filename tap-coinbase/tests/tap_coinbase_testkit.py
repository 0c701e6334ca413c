"""Run the tap in-process against a simulator and split its Singer output."""

from __future__ import annotations

import copy
import io
import json
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from tap_coinbase.tap import TapCoinbase

TRADE_FIELDS = ("trade_id", "side", "size", "price", "time")


@dataclass
class SyncOutput:
    """The messages of one tap run."""

    messages: list[dict[str, Any]]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)

    def trades(self, product_id: str) -> list[dict[str, Any]]:
        """The coinbase_trades records of one product, in emission order."""
        return [r for r in self.records.get("coinbase_trades", []) if r["product_id"] == product_id]

    def as_served(self, product_id: str) -> list[dict[str, Any]]:
        """Those records reduced to Coinbase's own fields, comparable with the oracle."""
        return [{k: r[k] for k in TRADE_FIELDS} for r in self.trades(product_id)]

    @property
    def final_state(self) -> dict[str, Any]:
        """The last STATE value printed."""
        return self.states[-1]


def parse_messages(text: str) -> SyncOutput:
    """Split Singer lines into records per stream and state values."""
    out = SyncOutput(messages=[json.loads(line) for line in text.splitlines() if line.strip()])
    for message in out.messages:
        if message["type"] == "RECORD":
            out.records.setdefault(message["stream"], []).append(message["record"])
        elif message["type"] == "STATE":
            out.states.append(message["value"])
    return out


def run_tap(config: dict[str, Any], state: dict[str, Any] | None = None) -> SyncOutput:
    """Sync every stream in-process; return the parsed stdout."""
    # singer-sdk updates the state dict it is given in place: hand it a copy.
    state = copy.deepcopy(state) if state is not None else None
    tap = TapCoinbase(config=config, state=state, parse_env_config=False)
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.sync_all()
    return parse_messages(buffer.getvalue())


def bookmark(state: dict[str, Any], product_id: str) -> int | None:
    """The `trade_id` watermark of one product in a Singer state, or None."""
    partitions = state.get("bookmarks", {}).get("coinbase_trades", {}).get("partitions", [])
    for partition in partitions:
        if partition["context"] == {"product_id": product_id}:
            return partition.get("replication_key_value")
    return None


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
