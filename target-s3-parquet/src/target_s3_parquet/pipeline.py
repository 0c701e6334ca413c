"""One batch of one stream: validate in bulk, write raw (and rejects), map, stage for unified.

`StreamSink.write_batch` (sinks.py) runs it; `Destination` is what every sink writes to.
The mapped trades are staged (staging.py) and committed with later batches' by the target.
batch_commit.py commits the files of a BATCH message at once.

The raw layer is written before the trades are staged, so every trade in `trades_unified` is
also in the raw audit trail (which holds each record at least once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from schemahub_core.mapping import Mapping, MappingError, SourceDataError
from schemahub_core.schema import UNIFIED_SCHEMA

from target_s3_parquet import raw_layer
from target_s3_parquet.batch_source import BatchFileSource
from target_s3_parquet.records import (
    Batch,
    RecordError,
    RecordList,
    Rejected,
    invalid_utf8,
    parse_batch,
    record_preview,
)
from target_s3_parquet.schema_rules import StreamShape
from target_s3_parquet.staging import StagedTrades, by_symbol
from target_s3_parquet.storage import Storage
from target_s3_parquet.tables import UnifiedTable
from target_s3_parquet.unified import CommitResult

if TYPE_CHECKING:
    from target_s3_parquet.iceberg_raw import IcebergRawTables

logger = logging.getLogger("target_s3_parquet.pipeline")


class MappingMismatchError(ValueError):
    """A stream's records do not fit its mapping to `trades_unified`."""


@dataclass
class Destination:
    """Where and how every sink writes: the store, trades_unified, the mappings, the settings.

    The target builds one from its settings; each sink finds it on the target.
    """

    storage: Storage
    unified: UnifiedTable
    mappings: dict[str, Mapping]
    validate: bool  # validate_records
    quarantine: bool  # on_invalid_record == "quarantine"
    side: Executor  # builds each batch's raw file while the commit thread parses the batch
    log: logging.Logger
    batch_files: BatchFileSource  # reads (and deletes) the files of BATCH messages
    staged: StagedTrades  # mapped trades of RECORD batches waiting for their commit
    raw_tables: IcebergRawTables | None = None  # iceberg_raw_tables: schemahub.raw_<stream>
    delete_batch_files: bool = False  # delete_batch_files: once their trades are committed
    _unmapped_logged: set[str] = field(default_factory=set)

    def mapping_for(self, stream: str) -> Mapping | None:
        """The mapping of `stream` to trades_unified, or None (logged once) for raw only."""
        mapping = self.mappings.get(stream)
        if mapping is None and stream not in self._unmapped_logged:
            self._unmapped_logged.add(stream)
            self.log.info(
                "Stream %r has no mapping to trades_unified: its records go to the raw layer "
                "only (mappings exist for %s).",
                stream,
                sorted(self.mappings),
            )
        return mapping


@dataclass
class StreamCommit:
    """What committing one stream's batch did."""

    stream: str
    records: int
    rejected: int
    unified: list[CommitResult]  # commits made (BATCH files)
    staged: int = 0  # trades staged for the next commit (RECORD batches)


def commit_stream(
    stream: str,
    shape: StreamShape,
    schema: dict,
    mapping: Mapping | None,
    batch: Batch,
    destination: Destination,
    *,
    ingest_time: datetime,
    received_at: str,
    since: float,
) -> StreamCommit:
    """Write one stream's batch to the raw and rejects layers; stage its trades for unified.

    `schema`: the stream's SCHEMA, `shape` its bulk-validation shape; the mapped trades are
    staged (staging.py) with `since`, the monotonic clock at the batch's first record.
    The raw file of every record is built (spliced and gzipped) on the side thread while
    this one parses and maps the batch; it is used unless some records were rejected.
    """
    storage = destination.storage
    validate, quarantine = destination.validate, destination.quarantine
    records, lines = batch.records, batch.lines
    raw_all = destination.side.submit(
        raw_layer.raw_file, records, batch.extracted_runs, received_at, records.joined
    )
    needs_arrow = mapping is not None or validate
    keep, rejected = _set_aside_invalid_utf8(stream, records, lines, quarantine)
    table: pa.Table | None = None
    if needs_arrow:
        table, keep, more = parse_batch(
            stream,
            shape,
            schema,
            records,
            lines,
            validate=validate,
            quarantine=quarantine,
            joined=records.joined,
            keep=keep,
        )
        rejected += more
    mapped: pa.Table | None = None
    parsed = table  # the kept records' parsed rows: what a raw Iceberg table gets
    if mapping is not None and table is not None and table.num_rows:
        mapped, unmappable = _apply_mapping(
            mapping, stream, table, ingest_time, records, lines, keep, quarantine
        )
        if unmappable:
            unmapped = {row for row, _ in unmappable}
            parsed = table.filter(pa.array([i not in unmapped for i in range(table.num_rows)]))
            # Rows the mapping rejected leave the batch like schema-invalid ones: rejects only.
            rows = keep if keep is not None else range(len(records))
            dropped = {rows[row] for row, _ in unmappable}
            rejected += [
                Rejected(lines[rows[row]], bytes(records[rows[row]]), reason)
                for row, reason in unmappable
            ]
            keep = [i for i in rows if i not in dropped]
    if rejected:
        _write_rejects(storage, stream, ingest_time, received_at, rejected)
    raw = raw_all.result()
    kept: Sequence[bytes] = records
    runs = batch.extracted_runs
    if keep is not None and len(keep) != len(records):
        kept = [records[i] for i in keep]
        runs = _runs_for(keep, batch.extracted_runs)
        raw = raw_layer.raw_file(kept, runs, received_at)
    if kept:
        raw_layer.write_raw(storage, "raw", stream, ingest_time, raw)
        if destination.raw_tables is not None and parsed is not None and mapping is not None:
            # A data file now, appended before the trades' unified commit (and so before any
            # STATE covering them): at least once. The rows parsed above are the kept
            # records' fields typed by the SCHEMA, as the raw file's lines would parse again
            # (the same Arrow JSON reader).
            data_file = destination.raw_tables.write(
                stream, schema, parsed, received_at, _extracted_at(runs, len(kept))
            )
            destination.staged.add_raw(stream, data_file, since=since)
    staged = 0
    if mapped is not None and mapped.num_rows:
        # A batch holds every record the tap sent in order; with none set aside it is
        # complete between each symbol's first and last id.
        destination.staged.add(mapped, complete=not rejected, since=since)
        staged = mapped.num_rows
    return StreamCommit(stream, len(kept), len(rejected), [], staged)


def _set_aside_invalid_utf8(
    stream: str, records: RecordList, lines: list[int], quarantine: bool
) -> tuple[list[int] | None, list[Rejected]]:
    """Records that are not UTF-8: an error (fail), or rejects (quarantine) and the rest.

    Checked whatever validate_records says: no layer may hold text no reader can decode.
    Returns (indices of the records to keep, or None for all; the rejected ones).
    """
    bad = invalid_utf8(records)
    if not bad:
        return None, []
    if not quarantine:
        index, problem = bad[0]
        raise RecordError(stream, lines[index], problem, records[index])
    dropped = {index for index, _ in bad}
    keep = [i for i in range(len(records)) if i not in dropped]
    return keep, [Rejected(lines[i], bytes(records[i]), problem) for i, problem in bad]


def _extracted_at(runs: list[tuple[int, str | None]], count: int) -> pa.Array:
    """Each record's time_extracted, from the (first record, time_extracted) runs."""
    starts = [start for start, _ in runs] + [count]
    which = np.repeat(np.arange(len(runs)), np.diff(starts))
    return pa.array([value for _, value in runs], pa.string()).take(pa.array(which))


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
    records: Sequence[bytes],
    lines: list[int],
    keep: list[int] | None,
    quarantine: bool,
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Map the batch; returns (mapped rows, [(table row, reason)] set aside in quarantine).

    A value the mapping cannot convert (`SourceDataError.row`: a bad side, an unparseable
    time, ...) stops the run naming the record, or in quarantine mode sets that row aside.
    Anything else (a missing column, a wrong mapping) is a mismatch and always stops.
    """
    rows = keep if keep is not None else range(len(records))
    try:
        return mapping.apply(table, ingest_time), []
    except SourceDataError as exc:
        if exc.row is None:
            raise _mismatch(mapping, stream, lines, rows, exc) from exc
        if not quarantine:
            record = rows[exc.row]
            raise MappingMismatchError(
                f"stream {stream!r}, input line {lines[record]}: mapping {mapping.path} cannot "
                f"map this record: {exc}. Record: {record_preview(records[record])}. Nothing "
                f"of this batch was written to trades_unified; fix the tap output or the "
                f"mapping, or set on_invalid_record: quarantine to set such records aside."
            ) from exc
    except (MappingError, pa.ArrowInvalid, KeyError, TypeError) as exc:
        raise _mismatch(mapping, stream, lines, rows, exc) from exc
    return _map_setting_aside(mapping, stream, table, ingest_time, lines, rows)


def _map_setting_aside(
    mapping: Mapping,
    stream: str,
    table: pa.Table,
    ingest_time: datetime,
    lines: list[int],
    rows: Sequence[int],
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Quarantine: map in parts, dropping each row the engine names, bisecting the rest.

    Each failure sets its row aside and splits what remains in halves, so even a batch of
    only bad rows costs O(n log n) mapped rows rather than one full pass per bad row.
    """
    parts: list[pa.Table] = []
    bad: list[tuple[int, str]] = []
    stack = [np.arange(table.num_rows)]
    while stack:
        indices = stack.pop()
        if not indices.size:
            continue
        part = table if indices.size == table.num_rows else table.take(pa.array(indices))
        try:
            parts.append(mapping.apply(part, ingest_time))
        except SourceDataError as exc:
            if exc.row is None:
                raise _mismatch(mapping, stream, lines, rows, exc) from exc
            bad.append((int(indices[exc.row]), str(exc)))
            rest = np.delete(indices, exc.row)
            half = rest.size // 2
            stack += [rest[half:], rest[:half]]  # popped first half first: input order kept
        except (MappingError, pa.ArrowInvalid, KeyError, TypeError) as exc:
            raise _mismatch(mapping, stream, lines, rows, exc) from exc
    mapped = pa.concat_tables(parts) if parts else UNIFIED_SCHEMA.empty_table()
    return mapped, sorted(bad)


def _mismatch(
    mapping: Mapping, stream: str, lines: list[int], rows: Sequence[int], exc: Exception
) -> MappingMismatchError:
    return MappingMismatchError(
        f"stream {stream!r}, records on input lines {lines[rows[0]]}-{lines[rows[-1]]}: "
        f"mapping {mapping.path} does not fit the records: {exc}. Nothing of this batch was "
        f"written to trades_unified; fix the mapping (mappings_dir) or the tap output."
    )


def commit_unified(
    unified: UnifiedTable, mapped: pa.Table, *, complete: bool
) -> list[CommitResult]:
    """Commit mapped rows to trades_unified now, once per (exchange, symbol) they hold."""
    return [
        unified.commit(exchange, symbol, rows, complete=complete)
        for exchange, symbol, rows in by_symbol(mapped)
    ]


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
            + json.dumps(item.raw.decode("utf-8", "backslashreplace")).encode()
            + b"}\n"
        )
    key = raw_layer.write_raw(
        storage, "rejects", stream, ingest_time, raw_layer.gzip_bytes(b"".join(lines))
    )
    logger.warning(
        "Stream %r: %d invalid record(s) quarantined to %s (first: input line %d: %s)",
        stream,
        len(rejected),
        storage.uri(key),
        rejected[0].line,
        rejected[0].reason,
    )
