"""Reading Singer messages fast: the SDK's reader hook, with RECORD lines kept as raw bytes.

singer-sdk lets a plugin replace its message reader (`Target.message_reader_class`, used by
`listen()` and by the SDK's own test runner through `process_lines`). This reader keeps the
SDK's contract for every message type except RECORD: SCHEMA, STATE, ACTIVATE_VERSION and
BATCH lines are decoded to dicts and handed to the SDK's callbacks as usual. A RECORD line is
decoded by msgspec into its envelope only (type, stream, time_extracted), its `record` kept
as the exact raw JSON bytes, and queued on the stream's sink; the target then decodes and
validates a whole batch of one stream at once (see records.py) instead of record by record.
"""

from __future__ import annotations

import sys
import time
import typing as t
from collections import Counter

import msgspec
from singer_sdk.io_base import GenericSingerReader, SingerMessageType
from singer_sdk.singerlib.exceptions import InvalidInputLine

if t.TYPE_CHECKING:
    from target_s3_parquet.target import TargetS3Parquet

# How often (in lines) the reader asks the target whether the batch has grown too old.
_AGE_CHECK_EVERY = 4096


class Envelope(msgspec.Struct, gc=False):
    """The parts of a Singer message the reader needs; `record` stays undecoded."""

    type: str
    stream: str | None = None
    record: msgspec.Raw = msgspec.Raw(b"")  # empty: the message had no 'record'
    time_extracted: str | None = None


_decode_envelope = msgspec.json.Decoder(Envelope).decode
_decode_message = msgspec.json.Decoder(dict).decode
_NO_RUN = object()  # differs from every time_extracted, even None


class BatchedSingerReader(GenericSingerReader[str]):
    """A Singer reader that queues RECORD messages on their sinks without decoding them."""

    def __init__(self, target: TargetS3Parquet) -> None:
        """Bind the reader to the target whose sinks receive the records."""
        super().__init__()
        self.target = target

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
            self.target.finish_commits_after_input_error()
            raise

    def _process_lines(
        self, source: t.IO[t.Any], callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        # The hot loop: one msgspec call and a few list appends per RECORD line.
        stats: Counter[str] = Counter()
        target = self.target
        batch_rows = target.batch_size_rows
        records = 0
        stream: str | None = None
        sink = None
        next_age_check = _AGE_CHECK_EVERY
        for number, line in enumerate(_binary_lines(source), 1):
            try:
                envelope = _decode_envelope(line)
            except msgspec.DecodeError as exc:
                if not line.strip():
                    continue  # blank line between messages
                raise InvalidInputLine(_bad_line(number, line, exc)) from exc
            if envelope.type == "RECORD":
                if sink is None or envelope.stream != stream:
                    stream, sink = envelope.stream, target.sink_for_records(envelope, number)
                    pending = sink.pending
                    add_record, add_line = pending.records.append, pending.lines.append
                    runs = pending.extracted_runs
                    last_extracted = runs[-1][1] if runs else _NO_RUN
                if not envelope.record:
                    raise InvalidInputLine(
                        f"input line {number}: RECORD message of stream {stream!r} has no "
                        f"'record' key: {line[:300]!r}"
                    )
                if envelope.time_extracted != last_extracted:
                    last_extracted = envelope.time_extracted
                    runs.append((len(pending.records), last_extracted))
                add_record(envelope.record)
                add_line(number)
                records += 1
                if target.queued_records == 0:
                    target.start_batch()
                target.queued_records += 1
                if target.queued_records >= batch_rows:
                    target.commit()
                    sink = None  # the commit took the pending lists
                elif number >= next_age_check:
                    next_age_check = number + _AGE_CHECK_EVERY
                    if target.batch_is_stale(time.monotonic()):
                        target.commit()
                        sink = None
                continue
            message = self.deserialize_json(line.decode("utf-8", "replace"))
            message_type = message["type"]
            callback = callbacks.get(message_type)
            if callback is None:
                self._process_unknown_message(message)
            else:
                callback(message)
            stats[message_type] += 1
            sink = None  # SCHEMA may have replaced the stream's sink; STATE may commit
        stats[SingerMessageType.RECORD] += records
        return stats


def _binary_lines(source: t.IO[t.Any]) -> t.Iterator[bytes]:
    """Lines as bytes: straight from the binary buffer when there is one (stdin, files)."""
    buffer = getattr(source, "buffer", None)
    if buffer is not None:
        yield from buffer
        return
    for line in source:
        yield line.encode("utf-8") if isinstance(line, str) else line


def _bad_line(number: int, line: bytes, exc: Exception) -> str:
    text = line[:300].decode("utf-8", "replace")
    if "missing required field `type`" in str(exc):
        return f"input line {number}: message has no 'type' key: {text}"
    return f"input line {number}: not a valid Singer message ({exc}): {text}"
