"""Optional raw Iceberg tables (`iceberg_raw_tables`): `schemahub.raw_<stream>`, append-only.

One table per mapped source stream: the stream's fields as sent (typed by its SCHEMA message,
so decimal strings stay strings) plus `_sdc_extracted_at` and `_sdc_received_at`, appended
from the very gzip JSONL bytes of the raw audit trail. At least once, like that trail: each
batch is appended before its trades are committed to `trades_unified`, so a rerun after a
crash may append a batch again; nothing is ever lost. A plain append has no ranges to re-read,
so pyiceberg's own commit retry is right here (unlike `iceberg_table`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.json as pajson
from schemahub_core import iceberg as catalogs

from target_s3_parquet.iceberg_table import catalog_properties_for_target

if TYPE_CHECKING:
    from pyiceberg.table import Table

SDC_FIELDS = ("_sdc_extracted_at", "_sdc_received_at")
_JSON_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}


def raw_schema(stream: str, json_schema: dict[str, Any]) -> pa.Schema:
    """The Arrow schema of `raw_<stream>`: the SCHEMA message's fields, then the _sdc fields."""
    fields = []
    for name, prop in json_schema.get("properties", {}).items():
        if name in SDC_FIELDS:
            continue
        kinds = prop.get("type", "string")
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        named = [k for k in kinds if k != "null"]
        if len(named) != 1 or named[0] not in _JSON_TYPES:
            raise ValueError(
                f"stream {stream!r}: field {name!r} has type {prop.get('type')!r}; a raw Iceberg "
                f"table holds one scalar type per field ({', '.join(_JSON_TYPES)}). Turn "
                f"iceberg_raw_tables off, or fix the tap's schema."
            )
        fields.append(pa.field(name, _JSON_TYPES[named[0]]))
    return pa.schema(fields + [pa.field(name, pa.string()) for name in SDC_FIELDS])


class IcebergRawTables:
    """Appends raw batches to `schemahub.raw_<stream>`, creating each table on first use."""

    def __init__(self, config: dict[str, Any]) -> None:
        properties = catalog_properties_for_target(config)
        self.catalog = catalogs.load_catalog(properties)
        self.compression = config.get("parquet_compression") or "zstd"
        self.tables: dict[str, Table] = {}

    def _table(self, stream: str, schema: pa.Schema) -> Table:
        if stream not in self.tables:
            identifier = (catalogs.NAMESPACE, f"raw_{stream}")
            self.catalog.create_namespace_if_not_exists(catalogs.NAMESPACE)
            self.tables[stream] = self.catalog.create_table_if_not_exists(
                identifier,
                schema=schema,
                location=catalogs.table_location(self.catalog.properties, identifier),
                properties={
                    "format-version": "2",
                    "write.parquet.compression-codec": self.compression.replace(
                        "none", "uncompressed"
                    ),
                    "commit.manifest-merge.enabled": "true",
                    "write.metadata.delete-after-commit.enabled": "true",
                    "write.metadata.previous-versions-max": "20",
                },
            )
        return self.tables[stream]

    def append(self, stream: str, json_schema: dict[str, Any], gzipped_jsonl: bytes) -> None:
        """Append one raw batch (the raw layer's gzip JSONL file) to `raw_<stream>`."""
        schema = raw_schema(stream, json_schema)
        rows = pajson.read_json(
            pa.input_stream(pa.py_buffer(gzipped_jsonl), compression="gzip"),
            parse_options=pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        ).select(schema.names)
        self._append(stream, schema, rows)

    def append_rows(
        self, stream: str, json_schema: dict[str, Any], rows: pa.Table, received_at: str
    ) -> None:
        """Append one BATCH file's rows (the stream's columns, typed) to `raw_<stream>`."""
        schema = raw_schema(stream, json_schema)
        count = rows.num_rows
        sdc = {
            "_sdc_extracted_at": pa.nulls(count, pa.string()),  # BATCH files carry none
            "_sdc_received_at": pa.repeat(pa.scalar(received_at, pa.string()), count),
        }
        columns = [
            sdc[name]
            if name in sdc
            else rows.column(name)
            if name in rows.column_names
            else pa.nulls(count, schema.field(name).type)
            for name in schema.names
        ]
        self._append(stream, schema, pa.Table.from_arrays(columns, schema=schema))

    def _append(self, stream: str, schema: pa.Schema, rows: pa.Table) -> None:
        table = self._table(stream, schema)
        table.append(rows.cast(table.schema().as_arrow()))
