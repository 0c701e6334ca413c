"""Test helpers: run the tap in-process against a simulator and read its Singer messages."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from dataclasses import dataclass
from typing import Any

from schemahub_core.sim.simulator import Simulator
from tap_binance.tap import TapBinance

# Fields the tap adds to Binance's own trade object.
ADDED_FIELDS = ("symbol", "base_asset", "quote_asset", "exchange")


@dataclass
class TapRun:
    """The Singer messages of one tap run."""

    messages: list[dict[str, Any]]

    def records(self, stream: str = "binance_trades") -> list[dict[str, Any]]:
        """The records of ``stream``, in output order."""
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def trades(self, symbol: str) -> list[dict[str, Any]]:
        """Trades of ``symbol`` as Binance sent them (the tap's added fields removed)."""
        return [
            {k: v for k, v in r.items() if k not in ADDED_FIELDS}
            for r in self.records()
            if r["symbol"] == symbol
        ]

    @property
    def states(self) -> list[dict[str, Any]]:
        """Every STATE value, in output order."""
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, Any]:
        """The last STATE value."""
        return self.states[-1]


def bookmark(state: dict[str, Any], symbol: str) -> int | None:
    """The binance_trades watermark of ``symbol`` in a state value."""
    stream = state.get("bookmarks", {}).get("binance_trades", {})
    for partition in stream.get("partitions", []):
        if partition["context"] == {"symbol": symbol}:
            return partition.get("replication_key_value")
    return None


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Singer messages from the tap's stdout."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> TapRun:
    """Run a full sync in this process and return its messages."""
    out = io.StringIO()
    tap = TapBinance(config=config, state=state, catalog=catalog, parse_env_config=False)
    with redirect_stdout(out):
        tap.sync_all()
    return TapRun(parse_lines(out.getvalue()))


def base_config(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    """A config pointing the tap at ``sim`` (REST only unless overridden)."""
    return {
        "api_url": sim.url,
        "bulk_url": sim.bulk_url,
        "symbols": ["BTCUSDT"],
        "backfill_source": "rest",
        "lookback_minutes": 2,
        **overrides,
    }
