"""Columnar RECORD-message writer for dump batches (the bulk fast path).

singer-sdk builds, conforms and serialises every record one at a time, which caps a tap at
a few tens of thousands of records per second. Dump batches are already typed and
validated Arrow columns, so their RECORD lines can be assembled column by column. This is
only done when `schemahub_core.fastpath.fast_path_allowed` says the SDK would not change the
records; tests prove the lines equal the SDK's output apart from time_extracted. The line
layout comes from `schemahub_core.record_layout`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc
from schemahub_core.record_layout import record_end, record_prefix


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
    head = record_prefix(stream_name) + '{"id":'
    tail = record_end(constants, time_extracted)
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
