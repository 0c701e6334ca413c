"""Columnar RECORD-message writer for dump batches (the bulk fast path).

singer-sdk builds, conforms and serialises every record one at a time, which caps a tap at
a few tens of thousands of records per second. Dump batches are already typed and
validated Arrow columns, so their RECORD lines can be assembled column by column. This is
only done when the SDK would not change the records (no stream maps, no flattening, every
property selected, no BATCH mode, no dry-run record limit); tests prove the lines equal the
SDK's output apart from time_extracted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams import Stream


def fast_path_allowed(stream: Stream) -> bool:
    """True when the SDK would emit dump records unchanged, one RECORD each: identity map,
    no flattening, every property selected, no BATCH mode, no dry-run record limit."""
    if stream.get_batch_config(stream.config) or stream.ABORT_AT_RECORD_COUNT is not None:
        return False
    maps = stream.stream_maps
    if len(maps) != 1 or type(maps[0]) is not SameRecordTransform:
        return False
    if maps[0].flattening_enabled or maps[0].stream_alias != stream.name:
        return False
    mask = stream.mask
    return all(mask.get(("properties", name), True) for name in stream.schema["properties"])


def _json(value: str) -> str:
    """A JSON string literal."""
    return json.dumps(value)


def render_record_lines(
    batch: pa.RecordBatch,
    stream_name: str,
    constants: Mapping[str, str],
    time_extracted: str,
) -> str:
    """Newline-terminated RECORD messages for every row of a validated dump batch.

    ``constants`` are string fields equal on every row (symbol, assets, exchange). Decimal
    columns were checked to hold only digits and a dot, so they need no JSON escaping.
    """
    head = '{"type":"RECORD","stream":' + _json(stream_name) + ',"record":{"id":'
    tail = "".join(f",{_json(key)}:{_json(value)}" for key, value in constants.items())
    tail += '},"time_extracted":' + _json(time_extracted) + "}\n"
    flags = {
        column: pc.if_else(batch[column], pa.scalar("true"), pa.scalar("false"))
        for column in ("isBuyerMaker", "isBestMatch")
    }
    lines = pc.binary_join_element_wise(
        head,
        pc.cast(batch["id"], pa.string()),
        ',"price":"',
        batch["price"],
        '","qty":"',
        batch["qty"],
        '","quoteQty":"',
        batch["quoteQty"],
        '","time":',
        pc.cast(batch["time"], pa.string()),
        ',"isBuyerMaker":',
        flags["isBuyerMaker"],
        ',"isBestMatch":',
        flags["isBestMatch"],
        tail,
        "",
    )
    # The lines are contiguous in the array's data buffer: hand it over in one piece.
    offsets = memoryview(lines.buffers()[1]).cast("i")
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return str(memoryview(lines.buffers()[2])[start:end], "utf-8")
