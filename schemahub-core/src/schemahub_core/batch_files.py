"""The taps' BATCH lane: trade pages written as singer-sdk batch files, then BATCH and STATE.

With singer-sdk's standard `batch_config`, a stream's `get_batches` (the SDK's documented
hook for bulk sources) hands its pages here. Pages are Arrow tables or record lists with
the stream's fields; they are written to files of `batch_size` rows in the configured
encoding (`jsonl`, gzip or plain; `parquet`, gzip or Parquet's default snappy, as the
SDK's own batchers write them), and after each file is closed the bookmark
moves to its last row through `sdk_seam`. The SDK then writes the BATCH message with the
file's URL and a STATE. Arrow pages are never turned into Python records for Parquet.

The SDK's batch path skips stream maps, flattening and field deselection, so a tap refuses
`batch_config` combined with any of them (`refuse_batch_with_transforms`). singer-sdk is
imported lazily: schemahub-core does not depend on it.
"""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias
from uuid import uuid4

import pyarrow as pa
import pyarrow.parquet as pq

from schemahub_core.fastpath import transforms_in_effect
from schemahub_core.record_layout import encode_json
from schemahub_core.sdk_seam import advance_bookmark

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap

    from schemahub_core.sdk_seam import BatchConfig, BatchEncoding

# A page of trades: Arrow columns (the dump path) or records (the REST paths).
Page: TypeAlias = pa.Table | pa.RecordBatch | list[dict[str, Any]]
Context: TypeAlias = Mapping[str, Any] | None

_JSON_TYPES = {
    "integer": pa.int64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "number": pa.float64(),
}

# A batch file is read whole, once, by the target: min/max statistics (per string column,
# the bulk of the write) and dictionaries (tried then abandoned on price/qty strings) buy
# nothing there. Measured on 1M binance trades: write 430 -> 290 CPU-ms, +6 % bytes.
BATCH_PARQUET_OPTIONS: dict[str, Any] = {"use_dictionary": False, "write_statistics": False}


def parquet_options(table: pa.Table) -> dict[str, Any]:
    """How `table` is written as a Parquet batch file (`pyarrow.parquet.write_table` keywords).

    `BATCH_PARQUET_OPTIONS`, except that columns held as Arrow dictionaries (the constant
    columns) are written as Parquet dictionaries: one value and a run of zeros instead of a
    string per row. Arrow readers get them back as dictionaries (no string per row to
    decode either), singer-sdk's reader as strings (`to_pylist`).
    """
    dictionaries = [field.name for field in table.schema if pa.types.is_dictionary(field.type)]
    return {**BATCH_PARQUET_OPTIONS, "use_dictionary": dictionaries}


class BatchConfigError(ValueError):
    """`batch_config` that the tap cannot honour (with what to change)."""


def refuse_batch_with_transforms(tap: Tap) -> None:
    """Raise `BatchConfigError` when `batch_config` is set together with a record transform.

    singer-sdk's batch path writes records as the stream produced them: a stream map, a
    flattening setting or a deselected field would be silently ignored.
    """
    from singer_sdk.exceptions import MapperNotInitialized

    if not tap.config.get("batch_config"):
        return
    try:
        tap.mapper  # noqa: B018 (discovery and --about set up no mapper: nothing is synced)
    except MapperNotInitialized:
        return
    found = {
        name: transforms
        for name, stream in tap.streams.items()
        if stream.selected and (transforms := transforms_in_effect(stream))
    }
    if found:
        listing = "; ".join(f"{name}: {', '.join(t)}" for name, t in found.items())
        raise BatchConfigError(
            f"{tap.name}: batch_config cannot be combined with record transforms ({listing}). "
            "singer-sdk writes batch files without applying them. Remove batch_config to run "
            "with RECORD messages, or remove the stream maps / flattening / field deselection "
            "and transform in the target instead."
        )


def jsonl_batch_config(batch_config: BatchConfig) -> BatchConfig:
    """`batch_config` with gzip JSONL files, for the reference streams (nested fields).

    singer-sdk's Parquet batcher infers column types from the records, so a nested field
    loses its type (an empty list becomes list<null>) and targets that check the SCHEMA
    refuse it; JSONL keeps the records as they are. Reference streams are small.
    """
    encoding = type(batch_config.encoding)(format="jsonl", compression="gzip")
    return dataclasses.replace(batch_config, encoding=encoding)


def arrow_schema(json_schema: Mapping[str, Any]) -> pa.Schema:
    """The Arrow schema of a stream's records: its JSON Schema properties, in order.

    Only the flat scalar types the trade streams use are mapped; anything else is an error
    naming the field, so a schema change cannot slip through as a wrong column type.
    """
    fields = []
    for name, prop in json_schema["properties"].items():
        types = prop.get("type", [])
        kinds = [t for t in ([types] if isinstance(types, str) else types) if t != "null"]
        if len(kinds) != 1 or kinds[0] not in _JSON_TYPES:
            raise BatchConfigError(f"field {name}: type {types} has no batch-file column type")
        fields.append(pa.field(name, _JSON_TYPES[kinds[0]]))
    return pa.schema(fields)


def as_table(page: Page, schema: pa.Schema) -> pa.Table:
    """`page` as an Arrow table with exactly `schema`'s columns, in order."""
    if isinstance(page, list):
        return pa.Table.from_pylist(page, schema=schema)
    table = pa.Table.from_batches([page]) if isinstance(page, pa.RecordBatch) else page
    table = table.select(schema.names)
    # A dictionary column of the field's type (constant_columns) stays one: same values.
    fields = [
        table.field(field.name)
        if _dictionary_of(table.field(field.name).type, field.type)
        else field
        for field in schema
    ]
    return table.cast(pa.schema(fields))


def _dictionary_of(arrow_type: pa.DataType, value_type: pa.DataType) -> bool:
    return pa.types.is_dictionary(arrow_type) and arrow_type.value_type == value_type


def constant_columns(batch: pa.RecordBatch, constants: Mapping[str, str]) -> pa.Table:
    """`batch` with one string column per entry of `constants`, equal on every row.

    Each is a dictionary column of one value: no string per row is built, and a Parquet
    batch file stores it as that value and a run of zeros (`parquet_options`).
    """
    table = pa.Table.from_batches([batch])
    zeros = pa.repeat(pa.scalar(0, pa.int32()), table.num_rows)
    for name, value in constants.items():
        column = pa.DictionaryArray.from_arrays(zeros, pa.array([value], pa.string()))
        table = table.append_column(name, column)
    return table


class BatchFileWriter:
    """Writes a stream's batch files the way singer-sdk names and encodes them."""

    def __init__(self, stream: Stream, batch_config: BatchConfig) -> None:
        """Files go to `batch_config.storage` (root + prefix), one sync id per stream run."""
        self.config = batch_config
        self.sync_id = f"{stream.tap_name}--{stream.name}-{uuid4()}"
        self.files = 0
        encoding = batch_config.encoding
        if encoding.format not in ("jsonl", "parquet"):
            raise BatchConfigError(
                f"batch_config.encoding.format must be jsonl or parquet, got {encoding.format!r}"
            )
        if encoding.compression not in (None, "none", "gzip"):
            raise BatchConfigError(
                "batch_config.encoding.compression must be gzip or none, "
                f"got {encoding.compression!r}"
            )

    @property
    def encoding(self) -> BatchEncoding:
        """The encoding every file of this writer has (what the BATCH message carries)."""
        return self.config.encoding

    def write(self, table: pa.Table) -> str:
        """Write `table` as the next batch file; return its URL once the file is closed."""
        self.files += 1
        encoding = self.config.encoding
        prefix = self.config.storage.prefix or ""
        if encoding.format == "parquet":
            name = f"{prefix}{self.sync_id}-{self.files}.parquet"
            with self.config.storage.open(name, "wb") as out:
                # As singer-sdk's Parquet batcher: gzip when asked, else Parquet's default.
                codec = "gzip" if encoding.compression == "gzip" else "snappy"
                pq.write_table(
                    table,
                    out,
                    compression=codec,
                    **parquet_options(table),
                )
        else:
            gzipped = encoding.compression == "gzip"
            name = f"{prefix}{self.sync_id}-{self.files}.json{'.gz' if gzipped else ''}"
            text = "".join(encode_json(row) + "\n" for row in table.to_pylist()).encode()
            with self.config.storage.open(name, "wb") as out:
                out.write(gzip.compress(text, compresslevel=6) if gzipped else text)
        return self.config.storage.get_url(name)


def stream_batches(
    stream: Stream,
    batch_config: BatchConfig,
    context: Context,
    pages: Callable[[Mapping[str, Any] | None], Iterable[Page]],
) -> Iterator[tuple[BatchEncoding, list[str]]]:
    """`get_batches` of a stream whose partitions yield `pages`: one manifest per file.

    Files hold `batch_size` rows (the last of a partition fewer) and never span two
    partitions. A file is written as soon as enough rows are buffered, so it ends inside
    the page just read: a cursor a stream keeps beside the bookmark, set before that page,
    stays valid. The bookmark moves to the file's last row after the file is closed and
    before the SDK writes its BATCH and STATE messages.
    """
    writer = BatchFileWriter(stream, batch_config)
    schema = arrow_schema(stream.schema)
    size = batch_config.batch_size
    partitions: list[Context] = list(stream.partitions or [])
    contexts = [context] if context else partitions or [None]
    for partition in contexts:
        buffered: list[pa.Table] = []
        rows = 0
        for page in pages(partition):
            table = as_table(page, schema)
            buffered.append(table)
            rows += table.num_rows
            while rows >= size:
                whole = pa.concat_tables(buffered)
                yield writer.encoding, [_write(stream, writer, partition, whole.slice(0, size))]
                buffered, rows = [whole.slice(size)], rows - size
        if rows:
            yield writer.encoding, [_write(stream, writer, partition, pa.concat_tables(buffered))]


def _write(stream: Stream, writer: BatchFileWriter, context: Context, table: pa.Table) -> str:
    """Write one file, then move the partition's bookmark to its last row."""
    url = writer.write(table)
    stream.logger.info(
        "%s %s: batch file %d written (%d rows): %s",
        stream.name,
        dict(context or {}),
        writer.files,
        table.num_rows,
        url,
    )
    if stream.replication_key:
        advance_bookmark(stream, context, table[stream.replication_key][-1].as_py())
    return url
