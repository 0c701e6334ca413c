"""Synthetic Singer input shaped like tap-coinbase / tap-binance output, for tests and bench.

Trades are a pure function of (symbol, id), so a test can regenerate exactly what it fed
and compare the table read back against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

# The taps' own trade schemas, copied (the target must not depend on a tap);
# tests/test_synthetic_schemas.py proves they are still equal.
COINBASE_SCHEMA = {
    "type": "object",
    "properties": {
        "trade_id": {"type": ["integer"], "description": "Dense per product"},
        "side": {"type": ["string", "null"], "description": "Maker side as sent: buy or sell"},
        "size": {
            "type": ["string", "null"],
            "description": "Base quantity, decimal string as sent",
        },
        "price": {"type": ["string", "null"], "description": "Price, decimal string as sent"},
        "time": {"type": ["string", "null"], "description": "RFC 3339 UTC time, exactly as sent"},
        "product_id": {"type": ["string"]},
        "base_asset": {"type": ["string", "null"]},
        "quote_asset": {"type": ["string", "null"]},
    },
    "required": ["trade_id", "product_id"],
    "$schema": "https://json-schema.org/draft/2020-12/schema",
}
BINANCE_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": ["integer"], "description": "Trade id (per exchange)"},
        "price": {"type": ["string", "null"], "description": "Decimal string, exactly as sent"},
        "qty": {"type": ["string", "null"], "description": "Base quantity, decimal string"},
        "quoteQty": {"type": ["string", "null"], "description": "Quote quantity, decimal string"},
        "time": {"type": ["integer", "null"], "description": "Trade time, epoch microseconds"},
        "isBuyerMaker": {"type": ["boolean", "null"], "description": "True: the taker sold"},
        "isBestMatch": {"type": ["boolean", "null"]},
        "symbol": {"type": ["string"]},
        "base_asset": {"type": ["string", "null"]},
        "quote_asset": {"type": ["string", "null"]},
        "exchange": {"type": ["string", "null"], "description": "BINANCE or BINANCEUS (id space)"},
    },
    "required": ["id", "symbol"],
    "$schema": "https://json-schema.org/draft/2020-12/schema",
}
# Trade n of a symbol happens EPOCH + n * 37 ms (crosses a UTC midnight after ~2.3M trades).
EPOCH = datetime(2026, 6, 19, 0, 0, tzinfo=UTC)
STEP_US = 37_000
EXTRACTED_AT = "2026-06-19T16:45:00.123456+00:00"


def trade_time(trade_id: int) -> datetime:
    """When synthetic trade `trade_id` executed."""
    return EPOCH + timedelta(microseconds=trade_id * STEP_US)


def coinbase_record(product: str, trade_id: int) -> dict:
    """A Coinbase-shaped trade record (maker side, decimal strings, RFC 3339 time)."""
    base, quote = product.split("-")
    return {
        "trade_id": trade_id,
        "side": "buy" if trade_id % 3 else "sell",
        "size": f"{(trade_id % 977) / 1000 + 0.00001:.8f}",
        "price": f"{60000 + (trade_id % 5000) / 100:.8f}",
        "time": trade_time(trade_id).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "product_id": product,
        "base_asset": base,
        "quote_asset": quote,
    }


def binance_record(symbol: str, trade_id: int, exchange: str = "BINANCE") -> dict:
    """A Binance-shaped trade record (integer microsecond time, isBuyerMaker flag)."""
    price = 60000 + (trade_id % 5000) / 100
    qty = (trade_id % 977) / 1000 + 0.00001
    return {
        "id": trade_id,
        "price": f"{price:.8f}",
        "qty": f"{qty:.8f}",
        "quoteQty": f"{price * qty:.8f}",
        "time": int(trade_time(trade_id).timestamp()) * 1_000_000
        + trade_time(trade_id).microsecond,
        "isBuyerMaker": trade_id % 2 == 0,
        "isBestMatch": True,
        "symbol": symbol,
        "base_asset": symbol[:3],
        "quote_asset": symbol[3:],
        "exchange": exchange,
    }


def schema_line(stream: str) -> str:
    """The SCHEMA message of `coinbase_trades` or `binance_trades`."""
    if stream == "coinbase_trades":
        schema, keys = COINBASE_SCHEMA, ["product_id", "trade_id"]
    else:
        schema, keys = BINANCE_SCHEMA, ["symbol", "id"]
    return json.dumps(
        {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": keys}
    )


def record_line(stream: str, record: dict) -> str:
    """A RECORD message as singer-sdk taps write it."""
    return json.dumps(
        {"type": "RECORD", "stream": stream, "record": record, "time_extracted": EXTRACTED_AT}
    )


def trade_lines(
    stream: str,
    symbol: str,
    first_id: int,
    last_id: int,
    *,
    state_every: int = 0,
) -> Iterator[str]:
    """SCHEMA, then RECORDs for ids first..last, with a STATE (last id) every `state_every`."""
    yield schema_line(stream)
    make = coinbase_record if stream == "coinbase_trades" else binance_record
    for trade_id in range(first_id, last_id + 1):
        yield record_line(stream, make(symbol, trade_id))
        if state_every and (trade_id - first_id + 1) % state_every == 0:
            yield state_line(stream, symbol, trade_id)
    if state_every:
        yield state_line(stream, symbol, last_id)


def state_line(stream: str, symbol: str, last_id: int) -> str:
    """A STATE message with a singer-sdk style bookmark for one partition."""
    key = "product_id" if stream == "coinbase_trades" else "symbol"
    value = {
        "bookmarks": {
            stream: {"partitions": [{"context": {key: symbol}, "replication_key_value": last_id}]}
        }
    }
    return json.dumps({"type": "STATE", "value": value})
