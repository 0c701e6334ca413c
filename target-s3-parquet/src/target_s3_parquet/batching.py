"""The batching layer: records waiting for their commit, per sink, and when a batch is due.

The reader hands runs of one stream's records (`CutRun`, `DecodedRun`) to `Batches.add`. All
streams share one open batch: it is full at `batch_size_rows` records (a run crossing that
size is split there) and stale after `max_batch_age_seconds`; then `Batches` calls the
`commit` it was given, and the committer takes every sink's records with `take`.
Records are kept per sink, not per stream name: after a SCHEMA change, the records queued
before it still belong to the old sink (its schema) and are committed with it.
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
import numpy as np

from target_s3_parquet.records import Batch, RecordList

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from target_s3_parquet.sinks import StreamSink

_NO_RUN = object()  # differs from every time_extracted, even None


@dataclass
class CutRun:
    """Records the reader cut out of consecutive lines of a block (checked: one value each)."""

    records: RecordList
    first_line: int  # input line number of the first
    extracted_runs: list[tuple[int, str | None]]  # (index in this run, time_extracted)

    def __len__(self) -> int:
        """The number of records in the run."""
        return len(self.records)

    def as_jsonl(self) -> RecordList:
        """The records as JSONL."""
        return self.records

    def part(self, start: int, stop: int) -> CutRun:
        """Records start..stop-1 of this run (their time_extracted runs re-indexed)."""
        runs: list[tuple[int, str | None]] = []
        for index, extracted in self.extracted_runs:
            if index >= stop:
                break
            if index <= start:
                runs = [(0, extracted)]
            else:
                runs.append((index - start, extracted))
        return CutRun(self.records.part(start, stop), self.first_line + start, runs)


@dataclass
class DecodedRun:
    """RECORDs msgspec decoded one by one: their exact bytes, input lines, time_extracted."""

    records: list[msgspec.Raw]
    lines: list[int]
    extracted: list[str | None]

    def __len__(self) -> int:
        """The number of records in the run."""
        return len(self.records)

    def as_jsonl(self) -> RecordList:
        """The records as JSONL."""
        joined = b"\n".join([*self.records, b""])
        lengths = np.fromiter(map(len, self.records), dtype=np.int64, count=len(self.records))
        return RecordList(np.frombuffer(joined, dtype=np.uint8), lengths)

    def part(self, start: int, stop: int) -> DecodedRun:
        """Records start..stop-1 of this run."""
        return DecodedRun(
            self.records[start:stop], self.lines[start:stop], self.extracted[start:stop]
        )


@dataclass
class PendingRecords:
    """Records of one sink not yet committed, in input order, as the reader queued them."""

    parts: list[CutRun | DecodedRun] = field(default_factory=list)
    count: int = 0

    def add_cut(self, run: CutRun) -> None:
        """Queue lines whose records the reader cut by the stream's layout."""
        self.parts.append(run)
        self.count += len(run)

    def add_decoded(self, run: DecodedRun) -> None:
        """Queue records msgspec decoded (each with its input line and time_extracted)."""
        last = self.parts[-1] if self.parts else None
        if not isinstance(last, DecodedRun):
            last = DecodedRun([], [], [])
            self.parts.append(last)
        last.records += run.records
        last.lines += run.lines
        last.extracted += run.extracted
        self.count += len(run)

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


@dataclass
class ClosedBatch:
    """The records of every sink taken for one commit, and when the batch's first came."""

    streams: list[tuple[StreamSink, PendingRecords]]
    received_at: datetime
    started: float  # monotonic clock at the batch's first record


class Batches:
    """The open batch: every sink's pending records, its size and its age."""

    def __init__(self, size_rows: int, max_age_seconds: float, commit: Callable[[], None]) -> None:
        """A batch is due at `size_rows` records or `max_age_seconds`; `commit` takes it."""
        self.size_rows = size_rows
        self.max_age_seconds = max_age_seconds
        self._commit = commit
        self._pending: dict[StreamSink, PendingRecords] = {}
        self.queued = 0  # records in the open batch, all sinks
        self._started = 0.0  # monotonic clock at its first record
        self._received_at = datetime.now(UTC)

    def add(self, sink: StreamSink, run: CutRun | DecodedRun) -> None:
        """Queue a run of `sink`'s records; commit each time the batch becomes full.

        A run crossing batch_size_rows is split there, so a batch is handed to the commit
        exactly when it is full.
        """
        start, stop = 0, len(run)
        while start < stop:
            if self.queued == 0:
                self._started = time.monotonic()
                self._received_at = datetime.now(UTC)
            end = min(stop, start + self.size_rows - self.queued)
            part = run if (start, end) == (0, stop) else run.part(start, end)
            pending = self._pending.get(sink)
            if pending is None:
                pending = self._pending[sink] = PendingRecords()
            if isinstance(part, CutRun):
                pending.add_cut(part)
            else:
                pending.add_decoded(part)
            self.queued += end - start
            start = end
            if self.queued >= self.size_rows:
                self._commit()

    def take(self) -> ClosedBatch:
        """Hand every sink's records (in the order they first came) to a commit; start anew."""
        closed = ClosedBatch(list(self._pending.items()), self._received_at, self._started)
        self._pending = {}
        self.queued = 0
        return closed

    def seconds_until_stale(self, now: float) -> float | None:
        """Seconds until the open batch reaches max_batch_age_seconds (None: none queued)."""
        if self.queued == 0:
            return None
        return max(0.0, self._started + self.max_age_seconds - now)

    def is_stale(self, now: float) -> bool:
        """True when queued records have waited longer than max_batch_age_seconds."""
        return self.queued > 0 and now - self._started >= self.max_age_seconds

    def commit_if_stale(self, now: float) -> None:
        """Commit the open batch if it has reached max_batch_age_seconds."""
        if self.is_stale(now):
            self._commit()
