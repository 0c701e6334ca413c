"""One sink per stream: its schema, its mapping (if any) and the records awaiting commit.

Records arrive in bulk from `BatchedSingerReader` (whole runs of lines, see record_lines.py),
or one at a time through the SDK's `process_record` hook; either way they wait here, as raw
JSON bytes, until the target commits every sink at once and relays the STATE that the commit
covers.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from singer_sdk.sinks import Sink

from target_s3_parquet.record_lines import CutRun, DecodedRun, exact_parts
from target_s3_parquet.records import RecordList, StreamShape, stream_shape

if t.TYPE_CHECKING:
    from schemahub_core.mapping import Mapping

    from target_s3_parquet.target import TargetS3Parquet


_EMPTY = pa.scalar(b"", pa.large_binary())
_NEWLINE = pa.scalar(b"\n", pa.large_binary())
_COMMA = pa.scalar(b",", pa.large_binary())
_decode_values = msgspec.json.Decoder(list[msgspec.Raw]).decode
_NO_RUN = object()  # differs from every time_extracted, even None


@dataclass
class Batch:
    """One stream's records ready to commit: joined as JSONL, with their input lines."""

    records: RecordList
    joined: pa.Buffer  # every record followed by a newline
    lines: list[int]  # the input line of each record
    extracted_runs: list[tuple[int, str | None]]  # (first record, time_extracted) per run


@dataclass
class PendingRecords:
    """Records of one stream not yet committed, in input order, as the reader queued them."""

    parts: list[CutRun | DecodedRun] = field(default_factory=list)
    count: int = 0

    def add_cut(self, run: CutRun) -> None:
        """Queue lines whose records the reader cut by the stream's layout."""
        self.parts.append(run)
        self.count += len(run)

    def add_decoded(
        self, records: list[msgspec.Raw], lines: list[int], extracted: list[str | None]
    ) -> None:
        """Queue records msgspec decoded (each with its input line and time_extracted)."""
        last = self.parts[-1] if self.parts else None
        if not isinstance(last, DecodedRun):
            last = DecodedRun([], [], [])
            self.parts.append(last)
        last.records += records
        last.lines += lines
        last.extracted += extracted
        self.count += len(records)

    def assemble(self) -> Batch:
        """Join the records for the commit (Arrow kernels, no per-record Python).

        Records cut by layout are checked with one msgspec call to be one JSON value each;
        if any is not, every cut line is decoded again on its own (`exact_parts`).
        """
        records = _concat([part.record_array() for part in self.parts])
        if any(isinstance(part, CutRun) for part in self.parts) and not _one_value_each(records):
            self.parts = exact_parts(self.parts)
            records = _concat([part.record_array() for part in self.parts])
        joined = pc.binary_join_element_wise(records, _EMPTY, _NEWLINE)
        offsets = np.frombuffer(records.buffers()[1], dtype=np.int64)
        offsets = offsets[records.offset : records.offset + len(records) + 1]
        lines: list[int] = []
        runs: list[tuple[int, str | None]] = []
        base = 0
        for part in self.parts:
            if isinstance(part, CutRun):
                lines.extend(range(part.first_line, part.first_line + len(part)))
                for index, extracted in part.extracted_runs:
                    if not runs or runs[-1][1] != extracted:
                        runs.append((base + index, extracted))
            else:
                lines += part.lines
                add_extracted_runs(runs, base, part.extracted)
            base += len(part)
        body = t.cast("pa.Buffer", joined.buffers()[2])[: int(offsets[-1] - offsets[0]) + base]
        return Batch(RecordList(body, np.diff(offsets)), body, lines, runs)


def _concat(arrays: list[pa.Array]) -> pa.LargeBinaryArray:
    return arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)


def _one_value_each(records: pa.LargeBinaryArray) -> bool:
    """True when every record is exactly one JSON value (msgspec, as the reader checks)."""
    commas = pc.binary_join_element_wise(records, _EMPTY, _COMMA)
    size = int(np.frombuffer(commas.buffers()[1], dtype=np.int64)[commas.offset + len(records)])
    data = memoryview(t.cast("pa.Buffer", commas.buffers()[2]))
    try:
        return len(_decode_values(b"".join((b"[", data[: size - 1], b"]")))) == len(records)
    except msgspec.DecodeError:
        return False


def add_extracted_runs(
    runs: list[tuple[int, str | None]], base: int, extracted: list[str | None]
) -> None:
    """Append (base + index, time_extracted) for each change of time_extracted in `extracted`."""
    last = runs[-1][1] if runs else _NO_RUN
    first = extracted[0]
    if first != last:
        runs.append((base, first))
    if extracted.count(first) == len(extracted):
        return  # the usual case: one time_extracted per page or batch of the tap
    for index in range(1, len(extracted)):
        if extracted[index] != extracted[index - 1]:
            runs.append((base + index, extracted[index]))


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
        """Queue one record (its exact JSON bytes)."""
        self.pending.add_decoded([record], [line], [time_extracted])
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
