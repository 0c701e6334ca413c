r"""RECORD lines cut by their layout, a whole block at a time, instead of decoded one by one.

A tap writes every RECORD of a stream with one layout: singer-sdk writes
`{"type":"RECORD","stream":"s","record":{...},"time_extracted":"<ts>"}` and Python's
`json.dumps` the same with a space after each `,` and `:`. Once msgspec has decoded one such
line, the reader knows the bytes before the record (`head`) and between the record and the
timestamp (`gap`). numpy then checks every line of a block in a few operations: it starts
with `head`, the record starts with `{`, and it ends with `}` + `gap` + a timestamp of
printable ASCII without `"` or `\` (as long as the block's first) + `"}`. Such a line is the
RECORD of stream `s` with record R = what lies between, and that time_extracted — provided R
alone is one JSON value, which `cut_records` checks for a whole run of lines with one msgspec
call; when that fails, the reader decodes those lines one by one (the exact path), which
names a bad line just as before.
Both line forms (the taps' fast path writes the compact one) are defined once, in
`schemahub_core.record_layout`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import sliding_window_view
from schemahub_core.record_layout import RECORD_LINE_FORMS

from target_s3_parquet.records import RecordList


class Envelope(msgspec.Struct, gc=False):
    """The parts of a Singer message the reader needs; `record` stays undecoded."""

    type: str
    stream: str | None = None
    record: msgspec.Raw = msgspec.Raw(b"")  # empty: the message had no 'record'
    time_extracted: str | None = None


decode_envelope = msgspec.json.Decoder(Envelope).decode
decode_envelopes = msgspec.json.Decoder(list[Envelope]).decode

_END = np.frombuffer(b'"}', dtype=np.uint8)
_decode_values = msgspec.json.Decoder(list[msgspec.Raw]).decode
_OPEN, _CLOSE = ord("{"), ord("}")


@dataclass(frozen=True)
class Layout:
    """How one stream's RECORD lines are written: the bytes around each record."""

    stream: str
    head: bytes
    gap: bytes | None  # None: the lines carry no time_extracted and end with the record's "}"


def learn_layout(line: bytes, stream: str, record: bytes, extracted: str | None) -> Layout | None:
    """The layout of `line` (no newline), a RECORD msgspec decoded; None if it is another one."""
    name = json.dumps(stream).encode()
    for head_form, gap in RECORD_LINE_FORMS:
        head = head_form % name
        if extracted is None:
            if line == head + record + b"}":
                return Layout(stream, head, None)
            continue
        stamp = extracted.encode()
        if _plain(stamp) and (line == head + record + gap + stamp + b'"}'):
            return Layout(stream, head, gap)
    return None


@dataclass
class Matched:
    """Which lines of a block have the layout, where their records are, their timestamps."""

    ok: np.ndarray  # bool per line
    head: int  # bytes before each record
    tail: int  # bytes after each record, newline excluded
    run_starts: np.ndarray  # the lines where a new time_extracted starts (0 first)
    run_stamps: list[str | None]  # the time_extracted of each of those runs

    def extracted_runs(self, start: int, stop: int) -> list[tuple[int, str | None]]:
        """(index from `start`, time_extracted) for each run among lines start..stop-1."""
        first = int(np.searchsorted(self.run_starts, start, side="right")) - 1
        last = int(np.searchsorted(self.run_starts, stop, side="left"))
        return [
            (max(int(self.run_starts[i]) - start, 0), self.run_stamps[i])
            for i in range(first, last)
        ]


def match_lines(
    layout: Layout, data: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> Matched | None:
    """Check every line (data[starts[i]:ends[i]], ends[i] its newline) against the layout.

    None when the block's first line does not have the layout (its timestamp length is
    taken from that line).
    """
    first = data[starts[0] : ends[0]].tobytes()
    head = np.frombuffer(layout.head, dtype=np.uint8)
    if layout.gap is None:  # head + record + "}"
        tail = 1
    else:  # head + record + gap + stamp + '"}'
        at = first.rfind(layout.gap)
        stamp_size = len(first) - at - len(layout.gap) - 2
        if at < 0 or stamp_size < 0 or not first.endswith(b'"}'):
            return None
        tail = len(layout.gap) + stamp_size + 2
    if not first.startswith(layout.head) or data.size < head.size + tail + 2:
        return None
    # Each line's first and last bytes as rows of a 2-D array (one gather each).
    heads = sliding_window_view(data, head.size)[np.minimum(starts, data.size - head.size)]
    tails = sliding_window_view(data, tail)[np.maximum(ends - tail, 0)]
    ok = (
        (ends - starts >= head.size + tail + 2)
        & (heads == head).all(axis=1)
        & (data[np.minimum(starts + head.size, data.size - 1)] == _OPEN)
        & (data[np.maximum(ends - tail - 1, 0)] == _CLOSE)
    )
    if layout.gap is None:
        return Matched(ok & (tails[:, 0] == _CLOSE), head.size, tail, np.zeros(1, int), [None])
    gap = np.frombuffer(layout.gap, dtype=np.uint8)
    stamps = tails[:, gap.size : -2]
    ok &= (tails[:, : gap.size] == gap).all(axis=1) & (tails[:, -2:] == _END).all(axis=1)
    run_starts = np.flatnonzero((stamps[1:] != stamps[:-1]).any(axis=1)) + 1
    run_starts = np.concatenate(([0], run_starts))
    plain = np.array([_plain(stamps[i].tobytes()) for i in run_starts.tolist()])
    if not plain.all():  # a timestamp JSON would escape: leave its lines to msgspec
        ok &= np.repeat(plain, np.diff(np.append(run_starts, ok.size)))
    run_stamps: list[str | None] = [
        stamps[i].tobytes().decode("latin-1") for i in run_starts.tolist()
    ]
    return Matched(ok, head.size, tail, run_starts, run_stamps)


def _plain(stamp: bytes) -> bool:
    """True when JSON writes `stamp` as it is: printable ASCII without a quote or backslash."""
    return stamp.isascii() and stamp.decode().isprintable() and not {34, 92} & set(stamp)


def cut_records(
    block: bytes, starts: np.ndarray, ends: np.ndarray, head: int, tail: int
) -> RecordList | None:
    """The records of lines that have the layout, cut out of the block.

    None unless each is ONE JSON value (msgspec checks them all in one call, as it checked
    each line before).
    """
    offsets = np.append(starts, ends[-1] + 1).astype(np.int64)
    lines = pa.Array.from_buffers(
        pa.large_binary(), starts.size, [None, pa.py_buffer(offsets), pa.py_buffer(block)]
    )
    # Each record and the byte after it, which becomes "," for msgspec, then the newline.
    cut = pc.binary_slice(lines, head, -tail)
    cut_offsets = np.frombuffer(cut.buffers()[1], dtype=np.int64)[: starts.size + 1]
    document = np.empty(int(cut_offsets[-1]) + 1, dtype=np.uint8)
    document[0] = ord("[")
    document[1:] = np.frombuffer(cut.buffers()[2], dtype=np.uint8)[: document.size - 1]
    after = cut_offsets[1:]  # in `document`: the byte after each record
    document[after] = ord(",")
    document[-1] = ord("]")
    try:
        values = _decode_values(document.data)  # the array's own buffer, not a copy
    except msgspec.DecodeError:
        return None
    lengths = np.diff(cut_offsets) - 1
    # Value i starts where record i does (a "{"); if it also ends where record i does, for
    # every i, each record is exactly one value (a count alone could be fooled by one record
    # ending inside the next and another holding two values).
    if len(values) != starts.size or not np.array_equal(
        np.fromiter(map(len, values), dtype=np.int64, count=len(values)), lengths
    ):
        return None
    document[after] = ord("\n")
    return RecordList(document[1:], lengths)


def bad_line(number: int, line: bytes, exc: Exception) -> str:
    """The error message for input line `number`, which msgspec could not decode."""
    text = line[:300].decode("utf-8", "replace")
    if "missing required field `type`" in str(exc):
        return f"input line {number}: message has no 'type' key: {text}"
    return f"input line {number}: not a valid Singer message ({exc}): {text}"
