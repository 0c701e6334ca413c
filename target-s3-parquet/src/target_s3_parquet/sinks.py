"""One sink per stream: its schema, its mapping (if any) and the records awaiting commit.

Records arrive in bulk from `BatchedSingerReader` (`add`), or one at a time through the
SDK's `process_record` hook; either way they wait here, as raw JSON bytes, until the target
commits every sink at once and relays the STATE that the commit covers.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

import msgspec
from singer_sdk.sinks import Sink

from target_s3_parquet.records import StreamShape, stream_shape

if t.TYPE_CHECKING:
    from schemahub_core.mapping import Mapping

    from target_s3_parquet.target import TargetS3Parquet


@dataclass
class PendingRecords:
    """Raw records of one stream not yet committed, with their input line numbers."""

    records: list[msgspec.Raw] = field(default_factory=list)
    # The same records as newline-terminated JSONL, in pieces: b"".join(joined_parts) ==
    # b"\n".join([*records, b""]). The reader joins each run while its block is still in
    # the CPU cache; joining 50k scattered records on the commit thread cost ~1 s per 2M.
    joined_parts: list[bytes] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    # (index of the first record, its time_extracted) for each run sharing time_extracted
    extracted_runs: list[tuple[int, str | None]] = field(default_factory=list)


class StreamSink(Sink):
    """Holds a stream's pending records; the target commits all sinks together."""

    def __init__(
        self,
        target: TargetS3Parquet,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        """Register the stream: derive its bulk-validation shape and find its mapping."""
        super().__init__(target, stream_name, schema, key_properties)
        self._target = target
        self.shape: StreamShape = stream_shape(self.original_schema, key_properties or ())
        self.mapping: Mapping | None = target.mapping_for(stream_name)
        self.pending = PendingRecords()

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """The raw layer adds its own two `_sdc_` fields; the SDK's set is not used."""
        return False

    def add(self, record: msgspec.Raw, line: int, time_extracted: str | None) -> None:
        """Queue one record (its exact JSON bytes); the reader inlines this on its hot path."""
        pending = self.pending
        if not pending.extracted_runs or pending.extracted_runs[-1][1] != time_extracted:
            pending.extracted_runs.append((len(pending.records), time_extracted))
        pending.records.append(record)
        pending.joined_parts += (bytes(record), b"\n")
        pending.lines.append(line)
        self._target.count_queued_record()

    def take_pending(self) -> PendingRecords:
        """Hand the queued records to a commit and start a new, empty queue."""
        taken, self.pending = self.pending, PendingRecords()
        return taken

    def process_record(self, record: dict, context: dict) -> None:
        """SDK per-record hook: queue the (already decoded) record like a bulk one."""
        self.add(msgspec.Raw(msgspec.json.encode(record)), 0, None)

    def process_batch(self, context: dict) -> None:
        """SDK drain hook: commit everything pending (all streams, as one commit)."""
        self._target.commit()
