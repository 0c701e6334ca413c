"""Reading Singer messages fast: the SDK's reader hook, with RECORD lines kept as raw bytes.

singer-sdk lets a plugin replace its message reader (`Target.message_reader_class`, used by
`listen()` and by the SDK's own test runner through `process_lines`). This reader keeps the
SDK's contract for every message type except RECORD: SCHEMA, STATE, ACTIVATE_VERSION and
BATCH lines are decoded to dicts and handed to the SDK's callbacks as usual. RECORD messages
are handed, as raw bytes and a run of one stream at a time, to the batching layer
(`Batches`, batching.py) with the sink of their stream; the sink later decodes and
validates a whole batch of its stream at once (see sinks.py and records.py).
The reader knows nothing of the target: the target gives it the batches, a way to find the
active sink of a stream, and what to do when the input turns out bad.

The input is read in blocks of whole lines (input_blocks.py). Once the reader knows how a
stream's RECORD lines are laid out, a block of them is checked and queued with a few numpy
operations and no Python object per record (record_lines.py); its other lines (STATE,
SCHEMA, ...) are handled one by one. A block that is not laid out that way is decoded in ONE
msgspec call, as a JSON array of envelopes, and queued run by run. A block that does not
decode that way either (a blank or malformed line, a line holding two values) is read again
line by line, which names the exact bad line.
"""

from __future__ import annotations

import sys
import time
import typing as t
from collections import Counter

import msgspec
import numpy as np
from schemahub_core.sdk_seam import refuse_unknown_message
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.io_base import GenericSingerReader, SingerMessageType
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_s3_parquet.batching import Batches, CutRun, DecodedRun
from target_s3_parquet.input_blocks import QUIET, line_blocks
from target_s3_parquet.record_lines import (
    Envelope,
    Layout,
    bad_line,
    cut_records,
    decode_envelope,
    decode_envelopes,
    learn_layout,
    match_lines,
)

if t.TYPE_CHECKING:
    from target_s3_parquet.sinks import StreamSink


_decode_message = msgspec.json.Decoder(dict).decode
_NEWLINE = 0x0A
# A block with more lines than this not in the stream's layout is decoded by msgspec instead.
MAX_OTHER_LINES = 64


class BatchedSingerReader(GenericSingerReader[str]):
    """A Singer reader that queues RECORD messages for their sinks without decoding them."""

    def __init__(
        self,
        batches: Batches,
        sink_named: t.Callable[[str], StreamSink | None],
        on_input_error: t.Callable[[], None],
    ) -> None:
        """Queue records on `batches`, for the sink `sink_named(stream)`.

        `sink_named` gives None before the stream's SCHEMA; `on_input_error` is called before
        raising on bad input.
        """
        super().__init__()
        self.batches = batches
        self.sink_named = sink_named
        self.on_input_error = on_input_error
        self._layout: Layout | None = None  # of the last RECORD line msgspec decoded

    @property
    def default_input(self) -> t.IO[str]:
        """Standard input."""
        return sys.stdin

    def deserialize_json(self, line: str) -> dict:
        """Decode one whole message (non-RECORD lines)."""
        try:
            decoded = _decode_message(line)
        except msgspec.DecodeError as exc:
            raise InvalidInputLine(f"Unable to parse line as JSON ({exc}): {line[:300]}") from exc
        return t.cast("dict", decoded)

    def process_lines(
        self,
        file_input: t.IO[str] | None,
        callbacks: dict[str, t.Callable[[dict], None]],
    ) -> t.Counter[str]:
        """Read every line; queue RECORDs in bulk, dispatch other messages to the SDK."""
        try:
            return self._process_lines(file_input or self.default_input, callbacks)
        except Exception:
            # Everything before the bad line is good: let handed-over commits finish.
            self.on_input_error()
            raise

    def _process_lines(
        self, source: t.IO[t.Any], callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        stats: Counter[str] = Counter()
        batches = self.batches
        number = 0  # input lines before the current block
        for block in line_blocks(source, batches):
            if block is not QUIET:
                number = self._process_block(block, number, callbacks, stats)
            batches.commit_if_stale(time.monotonic())
        return stats

    def _process_block(
        self,
        block: bytes,
        number: int,
        callbacks: dict[str, t.Callable[[dict], None]],
        stats: Counter[str],
    ) -> int:
        """Handle one block of lines, each ending with a newline, numbered from `number + 1`.

        Returns the number of the block's last line.
        """
        data = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(data == _NEWLINE)
        count = int(ends.size)
        if self._cut_block(block, data, ends, number, callbacks, stats):
            return number + count
        try:
            body = block.replace(b"\n", b",")
            envelopes = decode_envelopes(b"".join((b"[", memoryview(body)[:-1], b"]")))
        except msgspec.DecodeError:
            envelopes = None
        if envelopes is None or len(envelopes) != count:
            # A blank or bad line, or a line with two values: the exact per-line path.
            self._process_line_by_line(block, number, callbacks, stats)
            return number + count
        types = [envelope.type for envelope in envelopes]
        if types.count("RECORD") == count:
            others: list[int] = []
        else:
            others = [i for i, kind in enumerate(types) if kind != "RECORD"]
        lines: list[bytes] | None = None  # split only if a non-RECORD message needs its line
        start = 0
        for other in [*others, count]:
            if other > start:
                self._queue_records(envelopes, start, other, number + 1)
                stats[SingerMessageType.RECORD] += other - start
            if other < count:
                if lines is None:
                    lines = block.split(b"\n")
                self._dispatch(lines[other], callbacks, stats)
            start = other + 1
        if count > len(others):  # learn the layout of the last RECORD for the next blocks
            last = count - 1 - types[::-1].index("RECORD")
            line_start = int(ends[last - 1]) + 1 if last else 0
            envelope = envelopes[last]
            self._layout = learn_layout(
                block[line_start : int(ends[last])],
                envelope.stream or "",
                bytes(envelope.record),
                envelope.time_extracted,
            )
        return number + count

    def _cut_block(
        self,
        block: bytes,
        data: np.ndarray,
        ends: np.ndarray,
        number: int,
        callbacks: dict[str, t.Callable[[dict], None]],
        stats: Counter[str],
    ) -> bool:
        """Queue the block's RECORD lines by layout, other lines one by one; False if unfit."""
        layout = self._layout
        if layout is None or not ends.size:
            return False
        sink = self.sink_named(layout.stream)
        if sink is None:
            return False
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        matched = match_lines(layout, data, starts, ends)
        if matched is None:
            return False
        others = np.flatnonzero(~matched.ok)
        if others.size > MAX_OTHER_LINES:
            return False
        count = int(ends.size)
        start = 0
        for other in [*others.tolist(), count]:
            if other > start:
                run = slice(start, other)
                records = cut_records(block, starts[run], ends[run], matched.head, matched.tail)
                if records is None:  # a record is not one JSON value: the exact path
                    lines = block[int(starts[start]) : int(ends[other - 1]) + 1]
                    self._process_line_by_line(lines, number + start, callbacks, stats)
                else:
                    first_line = number + 1 + start
                    extracted = matched.extracted_runs(start, other)
                    self.batches.add(sink, CutRun(records, first_line, extracted))
                    stats[SingerMessageType.RECORD] += other - start
            if other < count:
                line = block[int(starts[other]) : int(ends[other]) + 1]
                self._process_line_by_line(line, number + other, callbacks, stats)
                if self.sink_named(layout.stream) is not sink:  # a new SCHEMA
                    rest = block[int(ends[other]) + 1 :]
                    self._process_line_by_line(rest, number + other + 1, callbacks, stats)
                    return True
            start = other + 1
        return True

    def _process_line_by_line(
        self,
        block: bytes,
        number: int,
        callbacks: dict[str, t.Callable[[dict], None]],
        stats: Counter[str],
    ) -> None:
        for offset, line in enumerate(block.split(b"\n"), number + 1):
            try:
                envelope = decode_envelope(line)
            except msgspec.DecodeError as exc:
                if not line.strip():
                    continue  # blank line between messages
                raise InvalidInputLine(bad_line(offset, line, exc)) from exc
            if envelope.type == "RECORD":
                self._queue_records([envelope], 0, 1, offset)
                stats[SingerMessageType.RECORD] += 1
            else:
                self._dispatch(line, callbacks, stats)

    def _dispatch(
        self, line: bytes, callbacks: dict[str, t.Callable[[dict], None]], stats: Counter[str]
    ) -> None:
        """A non-RECORD message: decoded whole and handed to the SDK's callback."""
        message = self.deserialize_json(line.decode("utf-8", "replace"))
        message_type = message["type"]
        callback = callbacks.get(message_type)
        if callback is None:
            refuse_unknown_message(self, message)
        else:
            callback(message)
        stats[message_type] += 1

    def _queue_records(
        self, envelopes: list[Envelope], start: int, end: int, first_line: int
    ) -> None:
        """Queue RECORDs `envelopes[start:end]`; envelope i came from input line first_line+i.

        Runs of one stream are queued with a few list operations each (C loops).
        """
        streams = [envelope.stream for envelope in envelopes[start:end]]
        if streams.count(streams[0]) == len(streams):
            bounds = [end]
        else:  # records of several streams interleaved: one run per change of stream
            bounds = [start + i for i in range(1, len(streams)) if streams[i] != streams[i - 1]]
            bounds.append(end)
        for bound in bounds:
            self._queue_run(envelopes[start:bound], first_line + start)
            start = bound

    def _queue_run(self, run: list[Envelope], first_line: int) -> None:
        """Queue RECORDs of one stream for its sink (list operations, no per-record Python)."""
        sink = self._sink_for(run[0], first_line)
        records = [envelope.record for envelope in run]
        missing = (
            None if all(records) else next(i for i, record in enumerate(records) if not record)
        )
        decoded = DecodedRun(
            records,
            list(range(first_line, first_line + len(run))),
            [envelope.time_extracted for envelope in run],
        )
        if missing is not None:
            # The records before it are queued (and committed if they fill the batch).
            if missing:
                self.batches.add(sink, decoded.part(0, missing))
            raise InvalidInputLine(
                f"input line {first_line + missing}: RECORD message of stream "
                f"{run[0].stream!r} has no 'record' key"
            )
        self.batches.add(sink, decoded)

    def _sink_for(self, envelope: Envelope, line: int) -> StreamSink:
        """The sink of the envelope's stream (its SCHEMA must have come)."""
        stream = envelope.stream
        if stream is None:
            raise InvalidInputLine(f"input line {line}: RECORD message has no 'stream' key")
        sink = self.sink_named(stream)
        if sink is None:
            raise RecordsWithoutSchemaException(
                f"input line {line}: a RECORD for stream '{stream}' was encountered before a "
                f"corresponding SCHEMA message. Check that the tap emits SCHEMA first."
            )
        return sink
