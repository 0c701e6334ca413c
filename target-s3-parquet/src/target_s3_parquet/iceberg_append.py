"""The Iceberg write path of `trades_unified` and the raw tables: data files, one append commit.

pyiceberg's own path (`Table.append` / a `Transaction` with `merge_append`) cost ~10x the
Hive table's whole commit (bench/README.md, decisions.md): it splits a batch by partition with
one Arrow filter per partition and, in a transaction, deep-copies the table metadata (every
snapshot, growing with the table) a dozen times per commit. Here, with only public pyiceberg
building blocks (manifest and manifest-list writers, statistics helpers, table updates):

- `write_data_files`: rows of one (exchange, symbol), already sorted by trade_ts, so each
  day is one contiguous slice: one zstd Parquet file per day (Iceberg field ids in the
  schema), its `DataFile` statistics read from the Parquet footer the writer returns;
  `write_unpartitioned_file` the same for one batch of a `raw_<stream>` table;
- `append`: one new manifest for the files, the parent snapshot's manifests carried over
  (the small ones merged into one once `commit.manifest.min-count-to-merge` of them pile up,
  so scan planning stays flat), a manifest list, a snapshot, and one `commit_table` call
  carrying the snapshot, the branch move and the property updates, guarded by "main is
  still at the parent snapshot" (optimistic concurrency; the catalog refuses otherwise).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.io.pyarrow import (
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
    schema_to_pyarrow,
)
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriter,
    write_manifest,
    write_manifest_list,
)
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.table import Table, TableProperties
from pyiceberg.table.refs import MAIN_BRANCH, SnapshotRefType
from pyiceberg.table.snapshots import (
    Operation,
    Snapshot,
    SnapshotSummaryCollector,
    Summary,
    update_snapshot_summaries,
)
from pyiceberg.table.update import (
    AddSnapshotUpdate,
    AssertRefSnapshotId,
    AssertTableUUID,
    SetPropertiesUpdate,
    SetSnapshotRefUpdate,
)
from pyiceberg.typedef import Record

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.table.metadata import TableMetadata

# Rows per row group unless the table sets `write.parquet.row-group-limit`: as the Hive files.
ROW_GROUP_ROWS = 128 * 1024
_DICTIONARY_COLUMNS = ["exchange", "symbol", "base_asset", "quote_asset", "side"]
_MICROS_PER_DAY = 86_400_000_000


def live_manifests(manifests: list[ManifestFile]) -> list[ManifestFile]:
    """The manifests that still list a live data file, as pyiceberg's fast append keeps them.

    A manifest holding only DELETED entries (the files a compaction or rebuild replaced) belongs
    to the snapshot that deleted them; carrying it on would make every later scan plan open it.
    """
    return [m for m in manifests if m.has_added_files() or m.has_existing_files()]


def write_data_files(table: Table, exchange: str, symbol: str, rows: pa.Table) -> list[DataFile]:
    """One Parquet data file per trade_ts day of `rows`, with the statistics Iceberg keeps.

    `rows`: one exchange and symbol, in trade_ts order, columns of `UNIFIED_SCHEMA`.
    """
    writer = _FileWriter(table, _DICTIONARY_COLUMNS)
    rows = rows.select(writer.file_schema.names).cast(writer.file_schema)
    micros = np.asarray(pc.cast(rows.column("trade_ts"), pa.int64()).to_numpy(), dtype=np.int64)
    days = micros // _MICROS_PER_DAY
    starts = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist()]
    return [
        writer.write(rows.slice(start, end - start), (exchange, symbol, int(days[start])))
        for start, end in zip(starts, [*starts[1:], rows.num_rows], strict=True)
    ]


def write_unpartitioned_file(table: Table, rows: pa.Table) -> DataFile:
    """One Parquet data file of `rows` (the columns of an unpartitioned `table`, in order)."""
    writer = _FileWriter(table, True)
    return writer.write(rows.cast(writer.file_schema), ())


class _FileWriter:
    """Writes Parquet data files of one table, each with the `DataFile` Iceberg keeps of it."""

    def __init__(self, table: Table, use_dictionary: bool | list[str]) -> None:
        metadata = table.metadata
        self.table = table
        self.use_dictionary = use_dictionary
        self.file_schema = schema_to_pyarrow(metadata.schema(), include_field_ids=True)
        compression = metadata.properties.get(TableProperties.PARQUET_COMPRESSION, "zstd")
        self.compression = "none" if compression == "uncompressed" else compression
        self.row_group_rows = int(
            metadata.properties.get(TableProperties.PARQUET_ROW_GROUP_LIMIT, ROW_GROUP_ROWS)
        )
        self.stats_plan = compute_statistics_plan(metadata.schema(), metadata.properties)
        self.column_ids = parquet_path_to_id_mapping(metadata.schema())
        self.location = table.location_provider()
        self.write_id = uuid.uuid4()
        self.written = 0

    def write(self, rows: pa.Table, partition: tuple[str | int, ...]) -> DataFile:
        """One data file of `rows` (of `file_schema`) in the partition of these values."""
        metadata = self.table.metadata
        spec = metadata.spec()
        key = None
        if spec.fields:
            key = PartitionKey(
                field_values=[
                    PartitionFieldValue(field, value)
                    for field, value in zip(spec.fields, partition, strict=True)
                ],
                partition_spec=spec,
                schema=metadata.schema(),
            )
        name = f"00000-{self.written}-{self.write_id}.parquet"
        self.written += 1
        path = self.location.new_data_location(name, key)
        output = self.table.io.new_output(path)
        with output.create(overwrite=False) as stream:
            with pq.ParquetWriter(
                stream,
                self.file_schema,
                compression=self.compression,
                use_dictionary=self.use_dictionary,
            ) as writer:
                writer.write_table(rows, row_group_size=self.row_group_rows)
            footer = writer.writer.metadata
        statistics = data_file_statistics_from_parquet_metadata(
            footer, self.stats_plan, self.column_ids
        )
        return DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=path,
            file_format=FileFormat.PARQUET,
            partition=Record(*partition),
            file_size_in_bytes=len(output),
            sort_order_id=metadata.default_sort_order_id,  # unified: rows in trade_ts order
            spec_id=metadata.default_spec_id,
            equality_ids=None,
            key_metadata=None,
            **statistics.to_serialized_dict(),
        )


class Append:
    """One append snapshot of `files` on top of `table`'s current main, ready to commit."""

    def __init__(self, table: Table, files: list[DataFile], summary: dict[str, str]) -> None:
        """Write the manifest(s) and the manifest list of the new snapshot (not committed)."""
        metadata = table.metadata
        self.table = table
        self.parent = metadata.current_snapshot()
        self.snapshot_id = metadata.new_snapshot_id()
        self.written: list[str] = []  # manifests and manifest list: removed if it never lands
        self._commit_uuid = uuid.uuid4()
        self._compression = metadata.properties.get(
            TableProperties.WRITE_AVRO_COMPRESSION, TableProperties.WRITE_AVRO_COMPRESSION_DEFAULT
        )
        manifests = [self._added_manifest(metadata, files)]
        if self.parent is not None:
            manifests += self._merged(metadata, live_manifests(self.parent.manifests(table.io)))
        sequence_number = metadata.next_sequence_number()
        manifest_list = self._new_path(f"snap-{self.snapshot_id}-0-{self._commit_uuid}.avro")
        with write_manifest_list(
            format_version=metadata.format_version,
            output_file=table.io.new_output(manifest_list),
            snapshot_id=self.snapshot_id,
            parent_snapshot_id=self.parent.snapshot_id if self.parent else None,
            sequence_number=sequence_number,
            avro_compression=self._compression,  # type: ignore[arg-type]
        ) as writer:
            writer.add_manifests(manifests)
        collector = SnapshotSummaryCollector()
        for data_file in files:
            collector.add_file(data_file, metadata.schema(), metadata.spec())
        # pyiceberg's pydantic models take field names or aliases; mypy only sees the aliases.
        self.snapshot = Snapshot(  # type: ignore[call-arg]
            snapshot_id=self.snapshot_id,
            parent_snapshot_id=self.parent.snapshot_id if self.parent else None,
            sequence_number=sequence_number,
            manifest_list=manifest_list,
            summary=update_snapshot_summaries(
                Summary(operation=Operation.APPEND, **collector.build(), **summary),
                self.parent.summary if self.parent else None,
            ),
            schema_id=metadata.current_schema_id,
        )

    def _new_path(self, name: str) -> str:
        path = self.table.location_provider().new_metadata_location(name)
        self.written.append(path)
        return path

    def _new_manifest(self, metadata: TableMetadata, number: int) -> ManifestWriter:
        path = self._new_path(f"{self._commit_uuid}-m{number}.avro")
        return write_manifest(
            format_version=metadata.format_version,
            spec=metadata.spec(),
            schema=metadata.schema(),
            output_file=self.table.io.new_output(path),
            snapshot_id=self.snapshot_id,
            avro_compression=self._compression,  # type: ignore[arg-type]
        )

    def _added_manifest(self, metadata: TableMetadata, files: list[DataFile]) -> ManifestFile:
        with self._new_manifest(metadata, 0) as writer:
            for data_file in files:
                writer.add(
                    ManifestEntry.from_args(
                        status=ManifestEntryStatus.ADDED,
                        snapshot_id=self.snapshot_id,
                        data_file=data_file,
                    )
                )
        return writer.to_manifest_file()

    def _merged(self, metadata: TableMetadata, manifests: list[ManifestFile]) -> list[ManifestFile]:
        """The parent's manifests, its small ones merged into one once enough pile up."""
        properties = metadata.properties
        if properties.get(TableProperties.MANIFEST_MERGE_ENABLED, "false") != "true":
            return manifests
        target = int(
            properties.get(
                TableProperties.MANIFEST_TARGET_SIZE_BYTES,
                TableProperties.MANIFEST_TARGET_SIZE_BYTES_DEFAULT,
            )
        )
        min_count = int(
            properties.get(
                TableProperties.MANIFEST_MIN_MERGE_COUNT,
                TableProperties.MANIFEST_MIN_MERGE_COUNT_DEFAULT,
            )
        )
        small = [
            m for m in manifests if m.manifest_length < target and m.content == ManifestContent.DATA
        ]
        if len(small) < min_count:
            return manifests
        merged = {m.manifest_path for m in small}
        with self._new_manifest(metadata, 1) as writer:
            for manifest in small:
                for entry in manifest.fetch_manifest_entry(self.table.io, discard_deleted=True):
                    writer.existing(entry)
        return [writer.to_manifest_file(), *(m for m in manifests if m.manifest_path not in merged)]

    def commit(self, properties: dict[str, str] | None = None) -> Table:
        """Commit the snapshot and `properties` in one catalog call; the table as committed.

        Raises `CommitFailedException` if main is no longer at the parent snapshot (another
        writer committed first): nothing landed. Any other error: outcome unknown.
        """
        parent_id = self.parent.snapshot_id if self.parent else None
        metadata = self.table.metadata
        response = self.table.catalog.commit_table(
            self.table,
            requirements=(
                AssertTableUUID(uuid=metadata.table_uuid),
                AssertRefSnapshotId(snapshot_id=parent_id, ref=MAIN_BRANCH),  # type: ignore[call-arg]
            ),
            updates=(
                AddSnapshotUpdate(snapshot=self.snapshot),
                SetSnapshotRefUpdate(  # type: ignore[call-arg]
                    snapshot_id=self.snapshot_id,
                    parent_snapshot_id=parent_id,
                    ref_name=MAIN_BRANCH,
                    type=SnapshotRefType.BRANCH,
                ),
                *([SetPropertiesUpdate(updates=properties)] if properties else []),
            ),
        )
        properties_now = response.metadata.properties
        if properties_now.get(TableProperties.METADATA_DELETE_AFTER_COMMIT_ENABLED) == "true":
            # Metadata files the log no longer lists (beyond previous-versions-max): as
            # pyiceberg's own commit does; nothing refers to them any more.
            kept = {entry.metadata_file for entry in response.metadata.metadata_log}
            for entry in metadata.metadata_log:
                if entry.metadata_file not in kept:
                    # Already gone, or left for orphan-file maintenance: never fails a commit.
                    with contextlib.suppress(OSError):
                        self.table.io.delete(entry.metadata_file)
        return Table(
            self.table.name(),
            response.metadata,
            response.metadata_location,
            self.table.io,
            self.table.catalog,
        )

    def discard(self, io: FileIO) -> list[str]:
        """Remove the manifests and manifest list of a snapshot that did not land."""
        failed = []
        for path in self.written:
            try:
                io.delete(path)
            except OSError:
                failed.append(path)
        return failed
