"""Turn a batch of one stream's raw JSON records into an Arrow table, validating in bulk.

Flat schemas (top-level integer/number/string/boolean properties using only the keywords
schema_rules.py checks in bulk: the shape of every trade stream) are parsed by
`pyarrow.json` with an explicit schema derived from the JSON schema: that one call decodes
and type-checks the whole batch, then a few Arrow kernels pick out the rows that may break
a bound, a length, an enum or `required`. Only those rows, every row when the parse
reports a problem, and every row of a stream whose SCHEMA is not flat, are checked one by
one with the SDK's own JSON-schema validator, which decides and names the exact record and
line. A batch is also checked to be UTF-8 (`invalid_utf8`), validated or not.
"""

from __future__ import annotations

import functools
import json
import typing as t
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json
from singer_sdk.exceptions import InvalidRecord, MissingKeyPropertiesError
from singer_sdk.sinks.core import JSONSchemaValidator

from target_s3_parquet.schema_rules import StreamShape, missing_keys, suspect_rows


class RecordList(Sequence[bytes]):
    """Records as JSONL: `joined` holds each record followed by a newline; a sequence of bytes."""

    def __init__(self, joined: np.ndarray, lengths: np.ndarray) -> None:
        """`joined`: uint8, every record followed by a newline; `lengths`: each record's."""
        self.joined = joined
        self.lengths = lengths

    def __len__(self) -> int:
        """The number of records."""
        return int(self.lengths.size)

    @t.overload
    def __getitem__(self, index: int) -> bytes: ...
    @t.overload
    def __getitem__(self, index: slice) -> list[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        """Record `index` as bytes without its newline; a slice gives a list of them."""
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        end = int(self._ends[index])
        return self.joined[end - int(self.lengths[index]) : end].tobytes()

    @functools.cached_property
    def _ends(self) -> np.ndarray:
        return np.cumsum(self.lengths + 1) - 1  # the newline after each record

    def part(self, start: int, stop: int) -> RecordList:
        """Records start..stop-1 (views, no copy)."""
        first = int(self.lengths[:start].sum()) + start
        last = first + int(self.lengths[start:stop].sum()) + stop - start
        return RecordList(self.joined[first:last], self.lengths[start:stop])


@dataclass
class Batch:
    """One stream's records ready to commit: joined as JSONL, with their input lines."""

    records: RecordList
    lines: list[int]  # the input line of each record
    extracted_runs: list[tuple[int, str | None]]  # (first record, time_extracted) per run


def record_lengths(records: Sequence[bytes]) -> np.ndarray:
    """The length of each record (known already for a RecordList)."""
    if isinstance(records, RecordList):
        return records.lengths
    return np.fromiter(map(len, records), dtype=np.int64, count=len(records))


class RecordError(InvalidRecord):
    """A record breaks its stream's schema: names the stream, input line and what is wrong."""

    def __init__(self, stream: str, line: int, problem: str, record: Any) -> None:
        """Name `stream`, input `line` and the `problem`; show a preview of `record`."""
        super().__init__(
            f"stream {stream!r}, input line {line}: record does not match the stream's SCHEMA: "
            f"{problem}. Record: {record_preview(record)}",
            record,
        )
        self.stream = stream
        self.line = line
        self.problem = problem


@dataclass
class Rejected:
    """One record left out of a batch, and why."""

    line: int
    raw: bytes
    reason: str


def record_preview(record: Any) -> str:
    """A record's JSON for an error message, cut at 300 characters."""
    raw = isinstance(record, (msgspec.Raw, bytes, bytearray, memoryview))
    text = bytes(record).decode("utf-8", "replace") if raw else record
    text = str(text)
    return text if len(text) <= 300 else text[:300] + "..."


def invalid_utf8(records: RecordList) -> list[tuple[int, str]]:
    """(index, problem) of each record that is not valid UTF-8 (JSON text must be).

    One pass over the batch: numpy finds no byte above 0x7F (the usual all-ASCII batch), or
    Arrow validates the whole buffer as UTF-8; only a batch that fails is checked record by
    record. Arrow's JSON parser would copy such bytes into a string column as they are, and
    the Parquet file holding them is unreadable (DuckDB: "Invalid string encoding").
    """
    joined = records.joined
    if not joined.size or int(joined.max()) < 0x80:
        return []
    whole = pa.Array.from_buffers(
        pa.large_string(),
        1,
        [None, pa.py_buffer(np.array([0, joined.size], np.int64)), pa.py_buffer(joined)],
    )
    try:
        whole.validate(full=True)
        return []
    except pa.ArrowInvalid:
        pass
    bad = []
    for index, raw in enumerate(records):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.append((index, _utf8_problem(raw)))
    return bad


def _utf8_problem(raw: bytes) -> str:
    """Which field of a record holds the bytes that are not UTF-8, for the error message."""
    text = raw.decode("utf-8", "surrogateescape")  # each bad byte becomes a lone surrogate
    try:
        path = _bad_string_path(json.loads(text), "")
    except ValueError:
        path = None
    where = f"field {path!r}" if path else "the record"
    return f"{where} is not valid UTF-8 (fix the tap's text encoding)"


def _bad_string_path(value: Any, path: str) -> str | None:
    """The path of the first field name or string in `value` that is not UTF-8."""
    if isinstance(value, str):
        return None if _is_utf8(value) else path or "(the record)"
    if isinstance(value, dict):
        items = [(f"{path}.{key}" if path else key, key, item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(f"{path}[{i}]", "", item) for i, item in enumerate(value)]
    else:
        return None
    for item_path, key, item in items:
        if not _is_utf8(key):
            return item_path
        if found := _bad_string_path(item, item_path):
            return found
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a byte that was not UTF-8, or "\ud800"
        return False
    return True


def parse_batch(
    stream: str,
    shape: StreamShape,
    json_schema: dict[str, Any],
    records: Sequence[bytes],
    lines: list[int],
    *,
    validate: bool,
    quarantine: bool,
    joined: bytes | pa.Buffer | None = None,
    keep: list[int] | None = None,
) -> tuple[pa.Table, list[int], list[Rejected]]:
    """Decode records to Arrow; returns (table, indices of kept records, rejected records).

    Raises `RecordError` / `MissingKeyPropertiesError` on the first bad record unless
    `quarantine`, in which case bad records are returned as `Rejected` and left out.
    `joined` may pass the records joined by newlines (each ending with one) when the caller
    has it already; `keep` the indices of the records to parse (default: all).
    """
    keep = list(range(len(records))) if keep is None else keep
    rejected: list[Rejected] = []
    if validate and not shape.flat:
        keep, rejected = _check_one_by_one(
            stream,
            json_schema,
            shape,
            [records[i] for i in keep],
            [lines[i] for i in keep],
            quarantine,
            index=keep,
        )
    # With additionalProperties: false the parse itself refuses unknown fields.
    closed = validate and shape.flat and shape.closed
    if len(keep) == len(records):
        table = _arrow_or_none(shape, records, joined, closed=closed)
    else:
        table = _arrow_or_none(shape, [records[i] for i in keep], closed=closed)
    if table is None:
        keep, more = _check_one_by_one(
            stream,
            json_schema,
            shape,
            [records[i] for i in keep],
            [lines[i] for i in keep],
            quarantine,
            index=keep,
            validate=validate,
        )
        rejected += more
        table = _arrow_or_none(shape, [records[i] for i in keep])
        if table is None:
            raise RecordError(
                stream,
                lines[keep[0]] if keep else 0,
                _arrow_problem(shape, [records[i] for i in keep]),
                records[keep[0]] if keep else b"",
            )
    # Rows the bulk checks cannot clear (a key missing or null, always; with validation,
    # rows that may break the SCHEMA) are decided one by one, by the SDK's validator.
    suspects = {row for row, _ in missing_keys(table, shape)}
    if validate and shape.flat:
        suspects.update(suspect_rows(table, shape))
    if suspects:
        rows = sorted(suspects)
        valid, more = _check_one_by_one(
            stream,
            json_schema,
            shape,
            [records[keep[row]] for row in rows],
            [lines[keep[row]] for row in rows],
            quarantine,
            index=rows,
            validate=validate,
        )
        rejected += more
        drop = suspects.difference(valid)
        if drop:
            table = table.filter(pa.array([i not in drop for i in range(table.num_rows)]))
            keep = [k for i, k in enumerate(keep) if i not in drop]
    return table, keep, rejected


def _arrow_or_none(
    shape: StreamShape,
    records: Sequence[bytes],
    joined: bytes | pa.Buffer | None = None,
    *,
    closed: bool = False,
) -> pa.Table | None:
    try:
        return _to_arrow(shape, records, joined, closed=closed)
    except pa.ArrowInvalid:
        return None


def _arrow_problem(shape: StreamShape, records: Sequence[bytes]) -> str:
    try:
        _to_arrow(shape, records)
    except pa.ArrowInvalid as exc:
        return f"cannot be converted to the stream's column types: {exc}"
    return "unknown conversion problem"


def _to_arrow(
    shape: StreamShape,
    records: Sequence[bytes],
    joined: bytes | pa.Buffer | None = None,
    *,
    closed: bool = False,
) -> pa.Table:
    if not records:
        return shape.arrow_schema.empty_table()
    data = b"\n".join(records) if joined is None else joined
    # One block per ~1 MiB lets pyarrow parse blocks on several threads.
    block = max(1 << 20, 2 * int(record_lengths(records).max()))
    return pa_json.read_json(
        pa.BufferReader(data),
        read_options=pa_json.ReadOptions(block_size=block),
        parse_options=pa_json.ParseOptions(
            explicit_schema=shape.arrow_schema,
            unexpected_field_behavior="error" if closed else "ignore",
        ),
    ).select(shape.arrow_schema.names)


def _check_one_by_one(
    stream: str,
    json_schema: dict[str, Any],
    shape: StreamShape,
    records: Sequence[bytes],
    lines: list[int],
    quarantine: bool,
    index: list[int] | None = None,
    *,
    validate: bool = True,
) -> tuple[list[int], list[Rejected]]:
    """The slow path: key properties and (if `validate`) the SDK's validator, one by one."""
    validator = JSONSchemaValidator(json_schema) if validate else None
    keep: list[int] = []
    rejected: list[Rejected] = []
    for position, (raw, line) in enumerate(zip(records, lines, strict=True)):
        problem = None
        record = msgspec.json.decode(raw)  # the reader checked it is one JSON value
        if not isinstance(record, dict):
            problem = f"a record must be a JSON object, got {type(record).__name__}"
        else:
            missing = [k for k in shape.key_properties if record.get(k) is None]
            if missing:
                if not quarantine:
                    raise MissingKeyPropertiesError(
                        f"stream {stream!r}, input line {line}: record lacks key "
                        f"properties {missing} (missing or null). Record: {record_preview(raw)}"
                    )
                problem = f"key properties {missing} are missing or null"
            else:
                problem = _schema_problem(validator, record)
                if problem is None and shape.flat and _arrow_or_none(shape, [raw]) is None:
                    problem = _arrow_problem(shape, [raw])
        if problem is None:
            keep.append(index[position] if index is not None else position)
        elif not quarantine:
            raise RecordError(stream, line, problem, raw)
        else:
            rejected.append(Rejected(line, bytes(raw), problem))
    return keep, rejected


def _schema_problem(validator: JSONSchemaValidator | None, record: dict) -> str | None:
    """The SDK validator's verdict on one record, prefixed with the field it is about."""
    if validator is None:
        return None
    try:
        validator.validate(record)
    except InvalidRecord as exc:
        # jsonschema's own error (the SDK wraps it with a prefix) knows the field's path.
        cause = exc.__cause__
        message = getattr(cause, "message", None) or (str(exc.args[0]) if exc.args else str(exc))
        path = getattr(cause, "json_path", "$")
        return message if path == "$" else f"field {path.removeprefix('$.')!r}: {message}"
    return None
