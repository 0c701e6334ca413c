"""One sink per stream: its schema, its mapping (if any) and the records awaiting commit.

Records arrive in bulk from `BatchedSingerReader` (whole runs of lines, see record_lines.py),
or one at a time through the SDK's `process_record` hook; either way they wait here, as raw
JSON bytes, until the target commits every sink at once and relays the STATE that the commit
covers.
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field

import msgspec
import numpy as np
from schemahub_core.paths import encode_segment
from singer_sdk.sinks import Sink

from target_s3_parquet.record_lines import CutRun, DecodedRun
from target_s3_parquet.records import RecordList
from target_s3_parquet.schema_rules import StreamShape, stream_shape

if t.TYPE_CHECKING:
    from schemahub_core.mapping import Mapping

    from target_s3_parquet.target import TargetS3Parquet


_NO_RUN = object()  # differs from every time_extracted, even None


class UnmappableFieldTypeError(ValueError):
    """A SCHEMA gives a field that a mapping reads a type the mapping engine cannot read."""


@dataclass
class Batch:
    """One stream's records ready to commit: joined as JSONL, with their input lines."""

    records: RecordList
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
        """Join the records for the commit (one copy, no per-record Python)."""
        parts = [part.as_jsonl() for part in self.parts]
        joined = parts[0].joined if len(parts) == 1 else np.concatenate([p.joined for p in parts])
        lengths = (
            parts[0].lengths if len(parts) == 1 else np.concatenate([p.lengths for p in parts])
        )
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
        return Batch(RecordList(joined, lengths), lines, runs)


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
        # The name becomes the raw/ and rejects/ folder: refuse one that cannot (empty, a
        # null byte, too long) at its SCHEMA, before any of its records is queued.
        encode_segment(stream_name, "stream name")
        super().__init__(target, stream_name, schema, key_properties)
        self._target = target
        self.shape: StreamShape = stream_shape(self.original_schema, key_properties or ())
        self.mapping: Mapping | None = target.mapping_for(stream_name)
        self._check_mapped_field_types()
        self.pending = PendingRecords()

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
