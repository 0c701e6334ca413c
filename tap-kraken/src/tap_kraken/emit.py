"""Fast RECORD writer: a page of Kraken trades as one write, byte-identical to singer-sdk's.

Used only when `schemahub_core.fastpath.fast_path_allowed` says singer-sdk would not change
the records. Lines keep the SDK's layout (`type`, `stream`, `record` in the schema's key
order, `time_extracted`; compact separators, ASCII escapes).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as escape
from typing import Any, TextIO

_ENCODER = json.JSONEncoder(separators=(",", ":"))


class FastTradeWriter:
    """Writes the RECORD lines of one pair's trades, one write and flush per page."""

    def __init__(
        self, stream_name: str, extra: Mapping[str, Any], out: TextIO | None = None
    ) -> None:
        """`extra`: the constant fields of this pair; `out` defaults to `sys.stdout`."""
        self._prefix = '{"type":"RECORD","stream":' + _ENCODER.encode(stream_name) + ',"record":'
        self._tail = "".join(
            f",{_ENCODER.encode(key)}:{_ENCODER.encode(value)}" for key, value in extra.items()
        )
        self._out = out

    def write(self, rows: Sequence[Sequence[Any]], *, plain: bool = False) -> None:
        """Write Kraken rows `[price, volume, time, side, ordertype, misc, trade_id]`.

        `plain`: no string needs escaping (checked on the whole answer), so none is escaped.
        """
        if not rows:
            return
        extracted = datetime.now(UTC).isoformat(sep="T")
        suffix = self._tail + '},"time_extracted":' + _ENCODER.encode(extracted) + "}\n"
        head = self._prefix + '{"price":'
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
        out = self._out or sys.stdout
        out.write("".join(lines))
        out.flush()
