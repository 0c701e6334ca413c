"""The files of one BATCH message: load them (read, check, map), then commit them as one batch.

Two steps so that the target can load the next message's files while the commit thread
commits the previous one's (`StreamSink.load_batch_files` on the reader, then
`StreamSink.commit_batch_files` on the commit thread); `process_batch_files` does both.
Loading writes nothing: a bad file raises `BatchFileError` naming it and nothing of the
message is committed. Quarantine does not apply: a batch file is the tap's unit, loaded whole.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
from schemahub_core.mapping import Mapping, MappingError, SourceDataError

from target_s3_parquet import raw_layer
from target_s3_parquet.batch_files import BatchFileError, read_batch_file
from target_s3_parquet.batch_source import batch_file_name
from target_s3_parquet.pipeline import Destination, StreamCommit, commit_unified
from target_s3_parquet.schema_rules import StreamShape
from target_s3_parquet.unified import CommitResult

logger = logging.getLogger("target_s3_parquet.batch_commit")


@dataclass
class BatchFile:
    """One batch file as read and checked: its URI, its exact bytes, its rows."""

    uri: str
    data: bytes
    rows: pa.Table  # the stream's columns, typed as its SCHEMA says


@dataclass
class LoadedBatch:
    """The files of one BATCH message, checked and mapped, ready to commit."""

    stream: str
    files: list[BatchFile]
    mapped: pa.Table | None  # trades_unified rows (None: the stream has no mapping)
    ingest_time: datetime  # the mapped rows' ingest_ts


def load_batch_files(
    stream: str,
    shape: StreamShape,
    schema: dict,
    mapping: Mapping | None,
    file_format: str,
    uris: Sequence[str],
    destination: Destination,
    *,
    ingest_time: datetime,
) -> LoadedBatch:
    """Read every file of the message, check it against the SCHEMA (`shape`) and map it."""
    files: list[BatchFile] = []
    parts: list[pa.Table] = []
    for uri in uris:
        data = destination.batch_files.read(stream, uri)
        rows = read_batch_file(
            stream, uri, file_format, data, shape, schema, validate=destination.validate
        )
        files.append(BatchFile(uri, data, rows))
        if mapping is not None and rows.num_rows:
            parts.append(_map_batch_file(mapping, stream, uri, rows, ingest_time))
    mapped = pa.concat_tables(parts) if parts else None
    return LoadedBatch(stream, files, mapped, ingest_time)


def commit_batch_files(
    loaded: LoadedBatch,
    schema: dict,
    destination: Destination,
    *,
    received_at: str,
    raw_table: bool,
) -> StreamCommit:
    """Keep each file under raw_batches/, commit the trades once, then (if set) delete them.

    The raw copies come first, so every trade in trades_unified is in the audit trail.
    `raw_table`: also append the rows to the stream's Iceberg raw table.
    """
    stream = loaded.stream
    raw_files = []
    for file in loaded.files:
        raw_layer.write_raw_batch(
            destination.storage, stream, loaded.ingest_time, batch_file_name(file.uri), file.data
        )
        if raw_table and destination.raw_tables is not None and file.rows.num_rows:
            raw_files.append(destination.raw_tables.write(stream, schema, file.rows, received_at))
    if raw_files:
        assert destination.raw_tables is not None
        destination.raw_tables.commit(stream, raw_files)  # one append for the message
    results: list[CommitResult] = []
    if loaded.mapped is not None and loaded.mapped.num_rows:
        # The files hold every record of the stream the tap batched, in order.
        results = commit_unified(destination.unified, loaded.mapped, complete=True)
    if destination.delete_batch_files:
        for file in loaded.files:
            try:
                destination.batch_files.delete(stream, file.uri)
            except BatchFileError as exc:
                # Its trades are committed: a file left behind wastes space, loses nothing.
                logger.warning("Batch file kept after its commit: %s", exc.args[0])
    return StreamCommit(stream, sum(file.rows.num_rows for file in loaded.files), 0, results)


def _map_batch_file(
    mapping: Mapping, stream: str, uri: str, rows: pa.Table, ingest_time: datetime
) -> pa.Table:
    """One batch file's rows mapped to trades_unified; a row that cannot be is an error."""
    try:
        return mapping.apply(rows, ingest_time)
    except SourceDataError as exc:
        where = f"row {exc.row}: " if exc.row is not None else ""
        raise BatchFileError(
            stream, uri, f"{where}mapping {mapping.path} cannot map it: {exc}"
        ) from exc
    except (MappingError, pa.ArrowInvalid, KeyError, TypeError) as exc:
        raise BatchFileError(
            stream, uri, f"mapping {mapping.path} does not fit its records: {exc}"
        ) from exc
