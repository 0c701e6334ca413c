"""Optional raw Iceberg tables (`iceberg_raw_tables`): `schemahub.raw_<stream>`, append-only.

One table per mapped source stream: the stream's fields as sent (typed by its SCHEMA message,
so decimal strings stay strings) plus `_sdc_extracted_at` and `_sdc_received_at`, appended
from the rows the target parsed from each batch's records (what the raw audit trail's lines
parse to with the same Arrow JSON reader), or a BATCH file's rows. At least once,
like that trail: a RECORD batch's rows are written as a data file when its trades are staged
(staging.py), and the files are appended before the trades are committed to `trades_unified`
(one append per stream per commit); a BATCH file's rows before its trades' commit. So a rerun
after a crash may append rows again; nothing is ever lost.

Appends take `trades_unified`'s write path (`iceberg_append`: one Parquet file, one
`commit_table` call; pyiceberg's `Table.append` cost several times more) and old snapshots are
expired after each commit (`snapshot_expiry`). A commit refused because another writer moved
the table is rebuilt on the new snapshot and retried (a plain append has no ranges to
re-read); any other commit error stops the run before the unified commit, so no STATE covers
the batch and a rerun appends it again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from schemahub_core import iceberg as catalogs

from target_s3_parquet import iceberg_append, snapshot_expiry
from target_s3_parquet.iceberg_table import IcebergCommitError, catalog_properties_for_target

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

MAX_ATTEMPTS = 30
logger = logging.getLogger("target_s3_parquet.iceberg")
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


def raw_rows(
    stream: str,
    json_schema: dict[str, Any],
    rows: pa.Table,
    received_at: str,
    extracted_at: pa.Array | None = None,
) -> pa.Table:
    """Rows of `raw_<stream>`: the stream's columns (typed by its SCHEMA) + the _sdc fields.

    `extracted_at`: each row's `time_extracted`; None for a BATCH file's rows (none).
    """
    schema = raw_schema(stream, json_schema)
    count = rows.num_rows
    sdc = {
        "_sdc_extracted_at": pa.nulls(count, pa.string()) if extracted_at is None else extracted_at,
        "_sdc_received_at": pa.repeat(pa.scalar(received_at, pa.string()), count),
    }
    # `rows` has every scalar property of the SCHEMA, the only kind raw_schema allows.
    columns = {**{name: rows.column(name) for name in rows.column_names}, **sdc}
    return pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)


class IcebergRawTables:
    """Appends raw batches to `schemahub.raw_<stream>`, creating each table on first use."""

    def __init__(self, config: dict[str, Any]) -> None:
        """Load the catalog named in `config`; tables open (or are created) on first use."""
        properties = catalog_properties_for_target(config)
        self.catalog = catalogs.load_catalog(properties)
        self.catalog_name = catalogs.describe(properties)
        self.compression = config.get("parquet_compression") or "zstd"
        self.tables: dict[str, Table] = {}

    def _table(self, stream: str, schema: pa.Schema) -> Table:
        if stream not in self.tables:
            self.tables[stream] = catalogs.create_racing(lambda: self._create(stream, schema))
        return self.tables[stream]

    def _create(self, stream: str, schema: pa.Schema) -> Table:
        identifier = (catalogs.NAMESPACE, catalogs.RAW_TABLE_PREFIX + stream)
        self.catalog.create_namespace_if_not_exists(catalogs.NAMESPACE)
        return self.catalog.create_table_if_not_exists(
            identifier,
            schema=schema,
            location=catalogs.table_location(self.catalog.properties, identifier),
            properties={
                "format-version": "2",
                "write.parquet.compression-codec": self.compression.replace("none", "uncompressed"),
                "commit.manifest-merge.enabled": "true",
                "write.metadata.delete-after-commit.enabled": "true",
                "write.metadata.previous-versions-max": "20",
                snapshot_expiry.KEEP_PROPERTY: str(snapshot_expiry.KEEP_SNAPSHOTS),
            },
        )

    def write(
        self,
        stream: str,
        json_schema: dict[str, Any],
        rows: pa.Table,
        received_at: str,
        extracted_at: pa.Array | None = None,
    ) -> DataFile:
        """Write rows (see `raw_rows`) as one data file of `raw_<stream>`, not committed yet."""
        table_rows = raw_rows(stream, json_schema, rows, received_at, extracted_at)
        return iceberg_append.write_unpartitioned_file(
            self._table(stream, table_rows.schema), table_rows
        )

    def commit(self, stream: str, files: list[DataFile]) -> None:
        """Append data files written by `write` to `raw_<stream>` in one commit.

        A commit another writer beat is rebuilt on the new snapshot and tried again.
        """
        table = self.tables[stream]
        name = f"{catalogs.NAMESPACE}.{catalogs.RAW_TABLE_PREFIX}{stream}"
        where = f"table {name} in the {self.catalog_name}"
        for attempt in range(MAX_ATTEMPTS):
            append = iceberg_append.Append(table, files, {})
            try:
                table = append.commit()
                break
            except CommitFailedException:
                table = table.refresh()
                if table.metadata.snapshot_by_id(append.snapshot_id) is None:
                    append.discard(table.io)  # it did not land: rebuild on the new snapshot
                    logger.info(
                        "Another writer appended to the %s first (attempt %d).", where, attempt + 1
                    )
                    continue
                break  # it landed, only the answer was lost
            except Exception as exc:
                raise IcebergCommitError(
                    f"append to the {where} failed: {type(exc).__name__}: {exc}. No STATE "
                    f"covering this batch was emitted; a rerun appends it again (at least once)."
                ) from exc
        else:
            raise IcebergCommitError(
                f"append to the {where}: {MAX_ATTEMPTS} commit conflicts in a row"
            )
        snapshot_expiry.expire_old_snapshots(table, where)
        self.tables[stream] = table
