"""One commit of one stream: validate in bulk, write raw (and rejects), map, commit unified.

The raw layer is written before the unified commit, so every trade in `trades_unified` is
also in the raw audit trail (which holds each record at least once).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from schemahub_core.mapping import Mapping, MappingError, SourceDataError

from target_s3_parquet import raw_layer
from target_s3_parquet.records import Rejected, parse_batch
from target_s3_parquet.sinks import PendingRecords, StreamSink
from target_s3_parquet.storage import Storage
from target_s3_parquet.unified import CommitResult, UnifiedTableWriter

logger = logging.getLogger("target_s3_parquet.pipeline")


class MappingMismatchError(ValueError):
    """A stream's records do not fit its mapping to `trades_unified`."""


@dataclass
class StreamCommit:
    """What committing one stream's batch did."""

    stream: str
    records: int
    rejected: int
    unified: list[CommitResult]


def commit_stream(
    sink: StreamSink,
    pending: PendingRecords,
    *,
    storage: Storage,
    unified: UnifiedTableWriter,
    ingest_time: datetime,
    received_at: str,
    validate: bool,
    quarantine: bool,
) -> StreamCommit:
    """Commit one stream's pending records to the raw, rejects and unified layers."""
    stream = sink.stream_name
    records, lines = pending.records, pending.lines
    joined = b"\n".join([*records, b""])  # shared by the Arrow parse and the raw layer
    needs_arrow = sink.mapping is not None or validate
    rejected: list[Rejected] = []
    table: pa.Table | None = None
    keep: list[int] | None = None
    if needs_arrow:
        table, keep, rejected = parse_batch(
            stream,
            sink.shape,
            sink.original_schema,
            records,
            lines,
            validate=validate,
            quarantine=quarantine,
            joined=joined,
        )
    if rejected:
        _write_rejects(storage, stream, ingest_time, received_at, rejected)
    runs = pending.extracted_runs
    if keep is not None and len(keep) != len(records):
        kept_records = [records[i] for i in keep]
        runs = _runs_for(keep, runs)
        records = kept_records
        joined = None
    if records:
        body = raw_layer.jsonl_lines(records, runs, received_at, joined)
        raw_layer.write_raw(storage, "raw", stream, ingest_time, body)
    results: list[CommitResult] = []
    if sink.mapping is not None and table is not None and table.num_rows:
        mapped = _apply_mapping(sink.mapping, stream, table, ingest_time, lines, keep)
        results = _commit_unified(unified, mapped)
    return StreamCommit(stream, len(records), len(rejected), results)


def _runs_for(keep: list[int], runs: list[tuple[int, str | None]]) -> list[tuple[int, str | None]]:
    """Re-index time_extracted runs after some records were left out."""
    starts = [start for start, _ in runs]
    result: list[tuple[int, str | None]] = []
    run = 0
    for position, original in enumerate(keep):
        while run + 1 < len(starts) and starts[run + 1] <= original:
            run += 1
        if not result or result[-1][1] != runs[run][1]:
            result.append((position, runs[run][1]))
    return result


def _apply_mapping(
    mapping: Mapping,
    stream: str,
    table: pa.Table,
    ingest_time: datetime,
    lines: list[int],
    keep: list[int] | None,
) -> pa.Table:
    first = lines[keep[0]] if keep else lines[0]
    last = lines[keep[-1]] if keep else lines[-1]
    try:
        return mapping.apply(table, ingest_time)
    except (SourceDataError, MappingError, pa.ArrowInvalid, KeyError, TypeError) as exc:
        raise MappingMismatchError(
            f"stream {stream!r}, records on input lines {first}-{last}: mapping "
            f"{mapping.path} does not fit the records: {exc}. Nothing of this batch was "
            f"written to trades_unified; fix the mapping (mappings_dir) or the tap output."
        ) from exc


def _commit_unified(unified: UnifiedTableWriter, mapped: pa.Table) -> list[CommitResult]:
    keys = mapped.group_by(["exchange", "symbol"], use_threads=False).aggregate([])
    results = []
    for exchange, symbol in zip(
        keys.column("exchange").to_pylist(), keys.column("symbol").to_pylist(), strict=True
    ):
        mask = pc.and_(
            pc.equal(mapped.column("exchange"), exchange),
            pc.equal(mapped.column("symbol"), symbol),
        )
        results.append(unified.commit(exchange, symbol, mapped.filter(mask)))
    return results


def _write_rejects(
    storage: Storage,
    stream: str,
    ingest_time: datetime,
    received_at: str,
    rejected: list[Rejected],
) -> None:
    lines: list[bytes] = []
    for item in rejected:
        entry: dict[str, Any] = {
            "input_line": item.line,
            "reason": item.reason,
            "_sdc_received_at": received_at,
        }
        head = json.dumps(entry)[:-1].encode()
        lines.append(
            head
            + b', "record_json": '
            + json.dumps(item.raw.decode("utf-8", "replace")).encode()
            + b"}\n"
        )
    key = raw_layer.write_raw(storage, "rejects", stream, ingest_time, b"".join(lines))
    logger.warning(
        "Stream %r: %d invalid record(s) quarantined to %s (first: input line %d: %s)",
        stream,
        len(rejected),
        storage.uri(key),
        rejected[0].line,
        rejected[0].reason,
    )
