"""Fast RECORD writer: a page of trades as one write, byte-identical to singer-sdk's lines.

singer-sdk builds, type-conforms, maps, serialises and flushes each record separately. When
no stream maps, flattening or field deselection apply, each of those steps is the identity,
so the tap can format a whole page at once. Lines keep the SDK's exact layout (`type`,
`stream`, `record` with the schema's key order, `time_extracted`; compact separators,
ASCII escapes). Only the variable strings are escaped, with the C escaper of `json`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as escape
from typing import Any, TextIO

_ENCODER = json.JSONEncoder(separators=(",", ":"))

# Coinbase's own trade fields, in the order of the stream schema; the extra fields follow.
TRADE_FIELDS = ("trade_id", "side", "size", "price", "time")


def trade_record(trade: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """The record of one trade: Coinbase's fields as sent, then the product metadata."""
    record = {name: trade.get(name) for name in TRADE_FIELDS}
    record.update(extra)
    return record


class FastTradeWriter:
    """Writes the RECORD lines of one product's trades, one write and flush per page."""

    def __init__(
        self, stream_name: str, extra: Mapping[str, Any], out: TextIO | None = None
    ) -> None:
        """`extra`: the constant fields of this product; `out` defaults to `sys.stdout`."""
        self._prefix = '{"type":"RECORD","stream":' + _ENCODER.encode(stream_name) + ',"record":'
        self._extra = dict(extra)
        self._tail = "".join(
            f",{_ENCODER.encode(key)}:{_ENCODER.encode(value)}" for key, value in extra.items()
        )
        self._out = out

    def write(self, trades: Sequence[Mapping[str, Any]]) -> None:
        """Write the trades as RECORD lines stamped with the current time, then flush."""
        if not trades:
            return
        extracted = datetime.now(UTC).isoformat(sep="T")
        stamp = ',"time_extracted":' + _ENCODER.encode(extracted) + "}\n"
        suffix = self._tail + "}" + stamp
        prefix = self._prefix + '{"trade_id":'
        lines = []
        for trade in trades:
            try:
                trade_id = trade["trade_id"]
                if type(trade_id) is not int:
                    raise TypeError(trade_id)
                lines.append(
                    f'{prefix}{trade_id},"side":{escape(trade["side"])},'
                    f'"size":{escape(trade["size"])},"price":{escape(trade["price"])},'
                    f'"time":{escape(trade["time"])}{suffix}'
                )
            except (KeyError, TypeError):
                # Anything unusual (a missing field, a non-string value) goes through the
                # general encoder, which writes it exactly as singer-sdk would.
                record = _ENCODER.encode(trade_record(trade, self._extra))
                lines.append(f"{self._prefix}{record}{stamp}")
        out = self._out or sys.stdout
        out.write("".join(lines))
        out.flush()
