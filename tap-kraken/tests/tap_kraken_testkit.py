"""Run tap-kraken in-process against a simulator and split its Singer output."""

from __future__ import annotations

import copy
import io
import json
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from tap_kraken.streams import TRADE_FIELDS
from tap_kraken.tap import TapKraken


@dataclass
class SyncOutput:
    """The messages of one tap run."""

    messages: list[dict[str, Any]]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)

    def trades(self, pair: str) -> list[dict[str, Any]]:
        """The kraken_trades records of one pair, in emission order."""
        return [r for r in self.records.get("kraken_trades", []) if r["pair"] == pair]

    def as_served(self, pair: str) -> list[list[Any]]:
        """Those records as Kraken's rows, comparable with the oracle."""
        return [[r[name] for name in TRADE_FIELDS] for r in self.trades(pair)]

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
    state = copy.deepcopy(state) if state is not None else None  # the SDK updates it in place
    tap = TapKraken(config=config, state=state, parse_env_config=False)
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        tap.sync_all()
    return parse_messages(buffer.getvalue())


def partition(state: dict[str, Any], pair: str) -> dict[str, Any]:
    """The kraken_trades partition state of one pair ({} if none)."""
    partitions = state.get("bookmarks", {}).get("kraken_trades", {}).get("partitions", [])
    return next((p for p in partitions if p["context"] == {"pair": pair}), {})


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
