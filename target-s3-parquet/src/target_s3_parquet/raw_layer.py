"""The raw audit layer: every record as received, gzip JSONL, plus two `_sdc_` timestamps.

`raw/<stream>/ingest_date=<YYYY-MM-DD>/<file>.jsonl.gz`, one file per stream per commit
(`<stream>` percent-encoded by `schemahub_core.paths.encode_segment`). Records that came
in BATCH files are kept as those files, byte for byte, under `raw_batches/` instead
(`write_raw_batch`).
Each line is the record's exact bytes from the input with `_sdc_extracted_at` (the message's
`time_extracted`, or null) and `_sdc_received_at` spliced in before the closing brace, so
number formats, key order and escapes survive untouched.
"""

from __future__ import annotations

import hashlib
import json
import typing as t
import uuid
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from isal import isal_zlib
from schemahub_core.paths import encode_segment

from target_s3_parquet.records import record_lengths
from target_s3_parquet.storage import Storage, StorageError

# Level 1 compresses these highly repetitive lines ~18x; with ISA-L (python-isal, a standard
# gzip stream) it costs ~0.14 us per trade line against ~0.7 us for zlib level 1 and ~2.7 us
# for zlib's default level: the raw layer is an audit trail and must not dominate the cost.
GZIP_LEVEL = 1
_NEWLINE, _OPEN, _CLOSE = ord("\n"), ord("{"), ord("}")
# A record whose closing brace follows one of these (`{}`, `{ }`, `{"a": 1 }`) takes the
# per-record path, which strips whitespace and handles the empty object.
_BEFORE_CLOSE_SLOW = np.frombuffer(b"{ \t\r", dtype=np.uint8)
# Up to this many time_extracted runs in a batch, each run is spliced with its own kernel call.
_FEW_RUNS = 32
_PAST_END = 1 << 62


def _suffix(extracted_at: str | None, received_at: str) -> bytes:
    return (
        f',"_sdc_extracted_at":{json.dumps(extracted_at)},'
        f'"_sdc_received_at":{json.dumps(received_at)}}}\n'
    ).encode()


def jsonl_lines(
    records: Sequence[bytes],
    extracted_runs: Sequence[tuple[int, str | None]],
    received_at: str,
    joined: bytes | pa.Buffer | None = None,
) -> bytes | pa.Buffer:
    r"""The JSONL body: records with the `_sdc_` fields appended, one per line.

    `extracted_runs` lists (first record index, time_extracted) for each run of records that
    share a `time_extracted`, in order. `joined` may pass `b"\n".join(records) + b"\n"`.
    """
    if not records:
        return b""
    body = b"\n".join([*records, b""]) if joined is None else joined
    spliced = _splice_columnar(body, records, extracted_runs, received_at)
    if spliced is not None:
        return spliced
    # Some record is not a plain non-empty object (rare): splice it record by record.
    bounds = [start for start, _ in extracted_runs[1:]] + [len(records)]
    parts: list[bytes] = []
    for (start, extracted_at), end in zip(extracted_runs, bounds, strict=True):
        suffix = _suffix(extracted_at, received_at)
        parts.extend(_one_line(raw, suffix) for raw in records[start:end])
    return b"".join(parts)


def _splice_columnar(
    body: bytes,
    records: Sequence[bytes],
    extracted_runs: Sequence[tuple[int, str | None]],
    received_at: str,
) -> pa.Buffer | bytes | None:
    """Replace each record's closing brace by the `_sdc_` fields, in Arrow kernels.

    `body` is the records each followed by a newline, so the records' lengths give where
    each line ends (cheaper than scanning the whole body for newlines). numpy checks that
    every line is a non-empty object (`{...x}`), then Arrow replaces each line's `}` and
    newline by its run's suffix, outside the GIL (bytes.replace held it ~0.7 us per record):
    one `binary_replace_slice` per run when there are few runs (one pass over the bytes),
    else a cut and a join against each record's suffix.
    Returns None when a record does not have that shape; the caller then takes the exact
    per-record path.
    """
    count = len(records)
    data = np.frombuffer(body, dtype=np.uint8)
    ends = np.cumsum(record_lengths(records) + 1) - 1
    if int(ends[-1]) + 1 != data.size or np.any(data[ends] != _NEWLINE):
        return None
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    if (
        np.any(ends - starts < 3)
        or np.any(data[starts] != _OPEN)
        or np.any(data[ends - 1] != _CLOSE)
        or np.any(np.isin(data[ends - 2], _BEFORE_CLOSE_SLOW))
    ):
        return None
    offsets = np.empty(count + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = ends + 1
    lines = pa.Array.from_buffers(
        pa.large_binary(), count, [None, pa.py_buffer(offsets), pa.py_buffer(body)]
    )
    suffixes = [_suffix(extracted_at, received_at) for _, extracted_at in extracted_runs]
    run_starts = [start for start, _ in extracted_runs] + [count]
    if len(suffixes) <= _FEW_RUNS:
        # "}\n" replaced by the run's suffix: one pass over the bytes, one kernel per run.
        return _joined_values(
            [
                pc.binary_replace_slice(lines.slice(start, end - start), -2, _PAST_END, suffix)
                for suffix, start, end in zip(
                    suffixes, run_starts[:-1], run_starts[1:], strict=True
                )
            ]
        )
    which = np.repeat(np.arange(len(suffixes)), np.diff(run_starts))
    spliced = pc.binary_join_element_wise(
        pc.binary_slice(lines, 0, -2),
        pa.array(suffixes, pa.large_binary()).take(pa.array(which)),
        pa.scalar(b"", pa.large_binary()),
    )
    return _joined_values([spliced])


def _joined_values(arrays: list[pa.Array]) -> pa.Buffer | bytes:
    """The values of binary arrays, back to back (each array's data buffer, sliced)."""
    buffers = []
    for array in arrays:
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)
        first, last = int(offsets[array.offset]), int(offsets[array.offset + len(array)])
        buffers.append(t.cast("pa.Buffer", array.buffers()[2])[first:last])
    return buffers[0] if len(buffers) == 1 else b"".join(buffers)


def _one_line(raw: bytes, suffix: bytes) -> bytes:
    text = bytes(raw).rstrip()
    inner = text[1:-1].strip()
    if not text.startswith(b"{"):
        # Not an object: keep it intact under a key so the audit trail still has it.
        return b'{"_sdc_record":' + text + suffix[:-1] + b"\n"
    return b"{" + inner + (suffix if inner else suffix[1:])


def gzip_bytes(body: bytes | pa.Buffer) -> bytes:
    """Gzip-compress `body` (a complete gzip member)."""
    return isal_zlib.compress(body, GZIP_LEVEL, wbits=31)


def raw_file(
    records: Sequence[bytes],
    extracted_runs: Sequence[tuple[int, str | None]],
    received_at: str,
    joined: bytes | pa.Buffer | None = None,
) -> bytes:
    """The gzip JSONL file of the raw layer for these records (see `jsonl_lines`)."""
    return gzip_bytes(jsonl_lines(records, extracted_runs, received_at, joined))


def write_raw(
    storage: Storage,
    layer: str,
    stream: str,
    ingest_time: datetime,
    gzipped: bytes,
) -> str:
    """Store one gzip JSONL file for `stream` under `layer/` (raw or rejects); returns its key."""
    name = f"{ingest_time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:16]}.jsonl.gz"
    folder = encode_segment(stream, "stream name")
    key = f"{layer}/{folder}/ingest_date={ingest_time.date().isoformat()}/{name}"
    storage.put(key, gzipped)
    return key


def raw_batch_key(stream: str, ingest_time: datetime, file_name: str, data: bytes) -> str:
    """Where `write_raw_batch` keeps a BATCH file: its content's digest is in the name."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    folder = encode_segment(stream, "stream name")
    name = encode_segment(f"{digest}-{file_name}", "batch file name")
    return f"raw_batches/{folder}/ingest_date={ingest_time.date().isoformat()}/{name}"


def write_raw_batch(
    storage: Storage, stream: str, ingest_time: datetime, file_name: str, data: bytes
) -> str:
    """Keep a BATCH file as it came, under `raw_batches/<stream>/`; returns its key.

    The key holds the first 16 hex digits of the content's SHA-256, so a retried or rerun
    write of the same file finds its own copy (a conditional PUT that succeeds), and other
    content is never written over one.
    """
    key = raw_batch_key(stream, ingest_time, file_name, data)
    if not storage.put(key, data, if_absent=True):
        raise StorageError(
            f"cannot keep batch file {file_name} of stream {stream!r} at {storage.uri(key)}: "
            f"an object with different content is already there, and the raw trail is never "
            f"overwritten. That object was not written by this target: move it away, then rerun."
        )
    return key
