"""Kraken trades as RECORD lines, a page at a time, byte-identical to singer-sdk's lines.

Used only when `schemahub_core.fastpath.fast_path_allowed` says singer-sdk would not change
the records; `schemahub_core.fastpath.PageWriter` writes the lines and keeps the bookmark.
The line layout comes from `schemahub_core.record_layout`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring_ascii as escape
from typing import Any

from schemahub_core.record_layout import record_end, record_prefix, time_extracted_now


class TradeLines:
    """Formats the RECORD lines of one pair's trades."""

    def __init__(self, stream_name: str, extra: Mapping[str, Any]) -> None:
        """`extra`: the constant fields of this pair, in schema order."""
        self._head = record_prefix(stream_name) + '{"price":'
        self._extra = dict(extra)

    def page(self, rows: Sequence[Sequence[Any]], *, plain: bool = False) -> str:
        """Kraken rows `[price, volume, time, side, ordertype, misc, trade_id]` as lines.

        `plain`: no string needs escaping (checked on the whole answer), so none is escaped.
        """
        suffix = record_end(self._extra, time_extracted_now())
        head = self._head
        if plain:
            lines = [
                f'{head}"{price}","volume":"{volume}","time":"{when}","side":"{side}",'
                f'"ordertype":"{kind}","misc":"{misc}","trade_id":{int(trade_id)}{suffix}'
                for price, volume, when, side, kind, misc, trade_id in rows
            ]
        else:
            lines = [
                f'{head}{escape(price)},"volume":{escape(volume)},"time":{escape(when)},'
                f'"side":{escape(side)},"ordertype":{escape(kind)},"misc":{escape(misc)},'
                f'"trade_id":{int(trade_id)}{suffix}'
                for price, volume, when, side, kind, misc, trade_id in rows
            ]
        return "".join(lines)
