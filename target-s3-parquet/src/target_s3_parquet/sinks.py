"""The sink layer: one sink per stream, and how it writes a batch of its records.

A sink holds what the target learned from the stream's SCHEMA: the bulk-validation shape and
the mapping to trades_unified (if any). It does not queue records: the reader hands them to
the batching layer (batching.py), and the target's commit thread hands each sink its batch
(`write_batch`): validate, write raw (and rejects), map, stage for the table (pipeline.py).
The files of a BATCH message are loaded (`load_batch_files`) and committed
(`commit_batch_files`) as one batch with Arrow (batch_commit.py); the SDK's own hook,
`process_batch_files`, is overridden to do both.
The SDK's per-record and drain hooks are bypassed on purpose and raise if ever called.
"""

from __future__ import annotations

import json
import typing as t
from datetime import UTC, datetime

from schemahub_core.paths import encode_segment
from singer_sdk.sinks import Sink

from target_s3_parquet.batch_commit import LoadedBatch, commit_batch_files, load_batch_files
from target_s3_parquet.pipeline import Destination, StreamCommit, commit_stream
from target_s3_parquet.schema_rules import StreamShape, stream_shape

if t.TYPE_CHECKING:
    from schemahub_core.mapping import Mapping
    from schemahub_core.sdk_seam import BatchEncoding
    from singer_sdk.target_base import Target

    from target_s3_parquet.records import Batch


class UnmappableFieldTypeError(ValueError):
    """A SCHEMA gives a field that a mapping reads a type the mapping engine cannot read."""


class BypassedHookError(NotImplementedError):
    """An SDK hook this target replaces on purpose was called (a bug, or a changed SDK)."""


class StreamSink(Sink):
    """One stream: its SCHEMA's shape and mapping; writes the batches the target hands it."""

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """Register the stream: derive its bulk-validation shape and find its mapping."""
        # The name becomes the raw/ and rejects/ folder: refuse one that cannot (empty, a
        # null byte, too long) at its SCHEMA, before any of its records is queued.
        encode_segment(stream_name, "stream name")
        super().__init__(target, stream_name, schema, key_properties)
        self.destination = _destination_of(target)
        self.shape: StreamShape = stream_shape(self.original_schema, key_properties or ())
        self.mapping: Mapping | None = self.destination.mapping_for(stream_name)
        self._check_mapped_field_types()

    def _check_mapped_field_types(self) -> None:
        """Refuse a SCHEMA giving a mapped field a type other than one scalar (a union...)."""
        if self.mapping is None:
            return
        properties = self.original_schema.get("properties") or {}
        columns = self.shape.arrow_schema.names
        for name in self.mapping.source_columns:
            # Undeclared fields are reported when records come (the mapping names them).
            if name in properties and name not in columns:
                raise UnmappableFieldTypeError(
                    f"stream {self.stream_name!r}: its SCHEMA declares field {name!r} as "
                    f"{json.dumps(properties[name])}, and mapping {self.mapping.path} reads "
                    f"{name!r}. A mapped field must have one JSON type: integer, number, "
                    f'string or boolean, optionally with "null"; unions (several types, '
                    f"anyOf/oneOf), objects and arrays cannot be mapped. Nothing after this "
                    f"SCHEMA was written. Give the field one type in the tap's schema, or map "
                    f"another field (mappings_dir), then rerun."
                )

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """The raw layer adds its own two `_sdc_` fields; the SDK's set is not used."""
        return False

    def write_batch(
        self, batch: Batch, ingest_time: datetime, received_at: str, since: float
    ) -> StreamCommit:
        """Write a batch of this stream's records and stage its trades (on the commit thread).

        `since`: monotonic clock when the batch's first record came (staging.py).
        """
        result = commit_stream(
            self.stream_name,
            self.shape,
            self.original_schema,
            self.mapping,
            batch,
            self.destination,
            ingest_time=ingest_time,
            received_at=received_at,
            since=since,
        )
        self._log_commit(result, "raw record(s)")
        return result

    def process_batch_files(self, encoding: BatchEncoding, files: t.Sequence[str]) -> None:
        """Load the files of one BATCH message with Arrow and commit them as one batch.

        Overrides the SDK's hook, which turns every record into a dict (`to_pylist`) and
        drains through `process_batch`. The target runs its two halves itself, loading on
        the reader while the commit thread commits the previous batch.
        """
        self.commit_batch_files(self.load_batch_files(encoding, files))

    def load_batch_files(self, encoding: BatchEncoding, files: t.Sequence[str]) -> LoadedBatch:
        """Read, check and map the files of one BATCH message (writes nothing)."""
        return load_batch_files(
            self.stream_name,
            self.shape,
            self.original_schema,
            self.mapping,
            encoding.format,
            files,
            self.destination,
            ingest_time=datetime.now(UTC),
        )

    def commit_batch_files(self, loaded: LoadedBatch) -> None:
        """Commit loaded batch files (runs on the target's commit thread)."""
        result = commit_batch_files(
            loaded,
            self.original_schema,
            self.destination,
            received_at=datetime.now(UTC).isoformat(),
            raw_table=self.mapping is not None,
        )
        self._log_commit(result, f"record(s) from {len(loaded.files)} batch file(s)")

    def _log_commit(self, result: StreamCommit, what: str) -> None:
        # singer-sdk's record_count metric (the batched reader bypasses its per-record count)
        self.record_counter_metric.increment(result.records + result.rejected)
        if result.staged:
            self.logger.info(
                "Wrote stream %r: %d %s, %d rejected, %d trade(s) staged for trades_unified.",
                result.stream,
                result.records,
                what,
                result.rejected,
                result.staged,
            )
            return
        self.logger.info(
            "Committed stream %r: %d %s, %d rejected, %d new trade(s) in trades_unified, "
            "%d already committed (dropped).",
            result.stream,
            result.records,
            what,
            result.rejected,
            sum(r.rows_written for r in result.unified),
            sum(r.rows_already_committed for r in result.unified),
        )

    def process_record(self, record: dict, context: dict) -> None:
        """Bypassed: the reader hands RECORDs in bulk to the batching layer, never one by one."""
        raise BypassedHookError(
            f"stream {self.stream_name!r}: StreamSink.process_record was called, but "
            f"target-s3-parquet queues records through its own reader (BatchedSingerReader) "
            f"so that a batch is validated, written and committed as a whole. A record "
            f"reaching this hook would never be committed: this is a bug in the target or a "
            f"singer-sdk change it does not support; please report it."
        )

    def process_batch(self, context: dict) -> None:
        """Bypassed: the target commits all streams at once (`write_batch`), not per-sink drains."""
        raise BypassedHookError(
            f"stream {self.stream_name!r}: StreamSink.process_batch (singer-sdk's drain) was "
            f"called, but target-s3-parquet commits every stream's batch together and then "
            f"relays the STATE; draining one sink alone could relay a STATE before its data "
            f"is written. This is a bug in the target or an unsupported singer-sdk change; "
            f"please report it."
        )


def _destination_of(target: Target) -> Destination:
    """The `Destination` the target set up for its sinks."""
    destination = getattr(target, "destination", None)
    if not isinstance(destination, Destination):
        raise TypeError(
            f"StreamSink needs a target with a `destination` (target-s3-parquet's "
            f"TargetS3Parquet), not {type(target).__name__}"
        )
    return destination
