"""Coinbase trades as RECORD lines, a page at a time, byte-identical to singer-sdk's lines.

Used only when `schemahub_core.fastpath.fast_path_allowed` says singer-sdk would not change
the records; `schemahub_core.fastpath.PageWriter` writes the lines and keeps the bookmark.
The line layout comes from `schemahub_core.record_layout`; only the variable strings are
escaped, with the C escaper of `json`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring_ascii as escape
from typing import Any

from schemahub_core.record_layout import (
    encode_json,
    line_end,
    record_end,
    record_prefix,
    time_extracted_now,
)

# Coinbase's own trade fields, in the order of the stream schema; the extra fields follow.
TRADE_FIELDS = ("trade_id", "side", "size", "price", "time")


def trade_record(trade: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """The record of one trade: Coinbase's fields as sent, then the product metadata."""
    record = {name: trade.get(name) for name in TRADE_FIELDS}
    record.update(extra)
    return record


class TradeLines:
    """Formats the RECORD lines of one product's trades."""

    def __init__(self, stream_name: str, extra: Mapping[str, Any]) -> None:
        """`extra`: the constant fields of this product, in schema order."""
        self._prefix = record_prefix(stream_name)
        self._extra = dict(extra)

    def page(self, trades: Sequence[Mapping[str, Any]]) -> str:
        """The trades as newline-terminated RECORD lines stamped with the current time."""
        extracted = time_extracted_now()
        suffix = record_end(self._extra, extracted)
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
                record = encode_json(trade_record(trade, self._extra))
                lines.append(f"{self._prefix}{record}{line_end(extracted)}")
        return "".join(lines)
