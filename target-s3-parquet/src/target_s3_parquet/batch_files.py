"""One Singer BATCH file (its bytes) as an Arrow table of its stream, checked against the SCHEMA.

singer-sdk's BATCH messages point to files of records: `jsonl` (one JSON record per line,
gzip or not; the SDK's own writer always gzips) or `parquet` (the SDK's writer infers the
column types from the data). Both become a table of the stream's scalar columns, typed as
the SCHEMA says, with no Python object per record:
- JSONL goes through the very path RECORDs take (`records.parse_batch`): UTF-8, the
  explicit-schema Arrow parse, the bulk rules and the SDK's validator on the rows they pick;
- Parquet columns are cast to the SCHEMA's types where the SDK's validator would accept the
  values (integers or decimals for `number`, integral values for `integer`, all-null
  columns), then the same bulk rules run on the columns (`schema_rules.first_violation`).
Any problem raises `BatchFileError` naming the stream, the file and, when known, the line
or row: a batch file is the tap's unit and is loaded whole or not at all.
"""

from __future__ import annotations

import typing as t

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from isal import igzip
from singer_sdk.exceptions import InvalidRecord, MissingKeyPropertiesError

from target_s3_parquet.records import RecordList, invalid_utf8, parse_batch, record_preview
from target_s3_parquet.schema_rules import StreamShape, first_violation, missing_keys

BATCH_FORMATS = ("jsonl", "parquet")
_GZIP_MAGIC = b"\x1f\x8b"
_NEWLINE = 0x0A


class BatchFileError(RuntimeError):
    """A BATCH file cannot be loaded: names the stream, the file, the problem and the fix."""

    def __init__(self, stream: str, uri: str, problem: str) -> None:
        """`problem`: what is wrong with the file at `uri`, for the person who reads it."""
        super().__init__(
            f"stream {stream!r}, batch file {uri}: {problem}. Nothing of this BATCH message "
            f"was committed and no STATE after it was printed; fix or regenerate the file "
            f"(rerun the tap from the last STATE printed), then rerun."
        )
        self.stream = stream
        self.uri = uri


def read_batch_file(
    stream: str,
    uri: str,
    file_format: str,
    data: bytes,
    shape: StreamShape,
    json_schema: dict[str, t.Any],
    *,
    validate: bool,
) -> pa.Table:
    """The records of one batch file (`data`, read from `uri`) as the stream's Arrow columns."""
    if file_format == "jsonl":
        return _jsonl_table(stream, uri, data, shape, json_schema, validate=validate)
    if file_format == "parquet":
        return _parquet_table(stream, uri, data, shape, json_schema, validate=validate)
    raise BatchFileError(
        stream,
        uri,
        f"encoding format {file_format!r} is not one of {list(BATCH_FORMATS)} (singer-sdk's "
        f"batch formats); set the tap's batch_config encoding to jsonl or parquet",
    )


# ------------------------------------------------------------------------------ JSONL
def _jsonl_table(
    stream: str,
    uri: str,
    data: bytes,
    shape: StreamShape,
    json_schema: dict[str, t.Any],
    *,
    validate: bool,
) -> pa.Table:
    """JSONL (gzip told by its magic bytes: the SDK's writer gzips whatever the config says)."""
    if data[:2] == _GZIP_MAGIC:
        try:
            data = igzip.decompress(data)
        except (OSError, EOFError, ValueError) as exc:
            raise BatchFileError(
                stream, uri, f"is not a complete gzip file ({exc}): truncated or corrupt"
            ) from exc
    records = _lines(stream, uri, data)
    bad = invalid_utf8(records)
    if bad:
        index, problem = bad[0]
        raise BatchFileError(stream, uri, f"line {index + 1}: {problem}")
    lines = list(range(1, len(records) + 1))
    try:
        table, keep, _ = parse_batch(
            stream,
            shape,
            json_schema,
            records,
            lines,
            validate=validate,
            quarantine=False,
            joined=records.joined,
        )
    except msgspec.DecodeError:
        raise _not_json(stream, uri, records) from None
    except (InvalidRecord, MissingKeyPropertiesError) as exc:
        # Their message says "input line N": here N is the line of the batch file.
        raise BatchFileError(stream, uri, f"{exc} (line numbers count lines of this file)") from exc
    if table.num_rows != len(records) or len(keep) != len(records):
        raise _not_json(stream, uri, records)  # e.g. two objects on one line
    return table


def _lines(stream: str, uri: str, data: bytes) -> RecordList:
    """The file's lines as records (no Python object per line); a blank line is refused."""
    body = np.frombuffer(data, dtype=np.uint8)
    if body.size and body[-1] != _NEWLINE:
        body = np.append(body, np.uint8(_NEWLINE))  # a last line without its newline
    ends = np.flatnonzero(body == _NEWLINE)
    starts = np.concatenate(([0], ends[:-1] + 1)) if ends.size else ends
    lengths = ends - starts
    if lengths.size and not lengths.all():
        blank = int(np.flatnonzero(lengths == 0)[0]) + 1
        raise BatchFileError(
            stream, uri, f"line {blank} is blank; a JSONL batch file holds one record per line"
        )
    return RecordList(body, lengths.astype(np.int64))


def _not_json(stream: str, uri: str, records: RecordList) -> BatchFileError:
    """The error naming the first line that is not one JSON value (looked for only on error)."""
    decode = msgspec.json.Decoder().decode
    for number, raw in enumerate(records, 1):
        try:
            decode(raw)
        except msgspec.DecodeError as exc:
            return BatchFileError(
                stream,
                uri,
                f"line {number} is not one JSON value ({exc}): {record_preview(raw)}; "
                f"a truncated or corrupt file",
            )
    return BatchFileError(stream, uri, "a line does not hold exactly one JSON object")


# ---------------------------------------------------------------------------- Parquet
def _parquet_table(
    stream: str,
    uri: str,
    data: bytes,
    shape: StreamShape,
    json_schema: dict[str, t.Any],
    *,
    validate: bool,
) -> pa.Table:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except pa.ArrowException as exc:
        raise BatchFileError(
            stream, uri, f"is not a readable Parquet file ({exc}): truncated or corrupt"
        ) from exc
    if validate and not shape.flat:
        raise BatchFileError(
            stream,
            uri,
            "the stream's SCHEMA uses keywords or nested fields this target checks record by "
            "record only, which a Parquet batch file would need Python objects for; send "
            "this stream as jsonl batches or RECORDs, or set validate_records: false",
        )
    properties = json_schema.get("properties") or {}
    unknown = [name for name in table.column_names if name not in properties]
    if validate and shape.closed and unknown:
        raise BatchFileError(
            stream,
            uri,
            f"column(s) {unknown} are not in the SCHEMA, which sets additionalProperties: false",
        )
    columns = [
        _column_as(stream, uri, table, field, required=field.name in shape.required)
        for field in shape.arrow_schema
    ]
    conformed = pa.Table.from_arrays(columns, schema=shape.arrow_schema)
    missing = missing_keys(conformed, shape)
    if missing:
        row, problem = missing[0]
        raise BatchFileError(stream, uri, f"row {row}: {problem}")
    if validate:
        violation = first_violation(conformed, shape)
        if violation is not None:
            row, name, keyword = violation
            value = conformed.column(name)[row].as_py()
            raise BatchFileError(
                stream,
                uri,
                f"row {row}: field {name!r} = {value!r} breaks the SCHEMA's {keyword!r} "
                f"({json_schema['properties'][name]})",
            )
    return conformed


def _column_as(
    stream: str, uri: str, table: pa.Table, field: pa.Field, *, required: bool
) -> pa.ChunkedArray | pa.Array:
    """The file's column for `field`, cast to the SCHEMA's type as the SDK's validator allows.

    The SDK's Parquet writer infers types from the values: a `number` holding only integers
    is int64, a Decimal is decimal128, a column of only nulls is `null`. Those are cast; a
    type the validator would refuse (a number for a string, a string for a number) is not.
    """
    if field.name not in table.column_names:
        if required:
            raise BatchFileError(
                stream, uri, f"has no column {field.name!r}, which the SCHEMA requires"
            )
        return pa.nulls(table.num_rows, field.type)  # absent in every record
    column = table.column(field.name)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not _castable(column.type, field.type):
        value = column.drop_null()[0].as_py() if len(column.drop_null()) else None
        raise BatchFileError(
            stream,
            uri,
            f"column {field.name!r} is {column.type} in the file (e.g. {value!r}) but the "
            f"SCHEMA says {_json_type(field.type)}: singer-sdk's validator refuses such values",
        )
    try:
        return pc.cast(column, field.type, safe=True)
    except pa.ArrowInvalid as exc:
        raise BatchFileError(
            stream,
            uri,
            f"column {field.name!r} ({column.type}) does not fit the SCHEMA's "
            f"{_json_type(field.type)}: {exc}",
        ) from exc


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether values of Arrow type `source` can be valid for the JSON type behind `target`."""
    if pa.types.is_null(source) or source == target:
        return True
    numeric = pa.types.is_integer(source) or pa.types.is_floating(source)
    numeric = numeric or pa.types.is_decimal(source)
    if pa.types.is_integer(target) or pa.types.is_floating(target):
        # JSON Schema's integer is any number with no fraction: checked by the safe cast.
        return numeric
    if pa.types.is_string(target):
        return pa.types.is_string(source) or pa.types.is_large_string(source)
    return False  # boolean: only bool (== target above)


def _json_type(arrow_type: pa.DataType) -> str:
    for name, check in (
        ("integer", pa.types.is_integer),
        ("number", pa.types.is_floating),
        ("string", pa.types.is_string),
        ("boolean", pa.types.is_boolean),
    ):
        if check(arrow_type):
            return name
    return str(arrow_type)
