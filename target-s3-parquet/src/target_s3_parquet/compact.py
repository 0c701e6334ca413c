"""`schemahub compact`: bin-pack each partition's small data files into files near a target size.

Per partition (exchange, symbol, day): the files smaller than 3/4 of the target are taken in
trade_ts order and grouped into bins of at most the target size on disk; each bin of two or
more files becomes one file sorted by trade_ts (then id), in the table's codec. Then one
Iceberg commit per partition deletes the bins' files and adds the new ones: rows and the
committed id ranges (table properties) are untouched, and the snapshot carries no ranges in
its summary.

Memory stays bounded whatever the target size: a bin is streamed, not loaded. Each input file
is already sorted by (trade_ts, id), so the bin is a k-way merge that reads a file one row
group at a time and opens a file only once the merge reaches its smallest trade_ts (from the
file's statistics): files that do not overlap in time are read one after the other, and only
files that overlap are open together, each closed once read. The merged rows go to a
ParquetWriter one row group at a time (`write.parquet.row-group-limit` rows, or fewer once they
take ROW_GROUP_ARROW_BYTES). pyiceberg members used that are not public
API: `_get_parquet_writer_kwargs` (the table's Parquet settings, so a compacted file is written
as pyiceberg writes the target's files).

Concurrency is optimistic, as for the target: the catalog refuses the commit if any writer
committed meanwhile. An ingest that loses to a compaction re-filters (no new ranges) and
re-appends the files it already wrote. A compaction that loses looks at the partition again:
if every file it read is still live, it commits the same new files again (the ingest's new
files are left as they are); if any is gone (another compaction, a rebuild), the partition
changed under it: it gives up on that partition, says so, and removes what it wrote.
"""

from __future__ import annotations

import argparse
import logging
import posixpath
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.conversions import from_bytes
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.io.pyarrow import _get_parquet_writer_kwargs, parquet_file_to_data_file
from pyiceberg.table import TableProperties
from pyiceberg.types import TimestamptzType
from schemahub_core.progress import CountProgress
from schemahub_core.schema import UNIFIED_SCHEMA

from target_s3_parquet import maintenance
from target_s3_parquet.iceberg_table import IcebergCommitError, field_id
from target_s3_parquet.maintenance import Partition, Selection
from target_s3_parquet.unified import in_time_then_id_order, integer_ids

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

DEFAULT_TARGET_FILE_MB = 128
# A file this fraction of the target or larger is left alone (Iceberg's min-file-size default).
SMALL_FRACTION = 0.75
MAX_ATTEMPTS = 10
_NO_LIMIT = np.iinfo(np.int64).max
# A row group of the output is written once it holds the table's row limit or this much Arrow
# (~400k trades, ~4 MB zstd): with the input row groups in flight, what bounds a compaction's
# memory (peak RSS ~380 MB on a 113 MB bin; 64 MB here gave ~490 MB, 1M rows ~520 MB).
ROW_GROUP_ARROW_BYTES = 32 << 20
logger = logging.getLogger("schemahub.compact")


@dataclass
class PartitionResult:
    """What compaction did (or would do) to one partition."""

    partition: str
    files_before: int
    files_after: int
    rewritten_files: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    status: str = "compacted"  # compacted | would compact | nothing to do | skipped
    reason: str = ""
    retries: int = 0


@dataclass
class CompactReport:
    """The report of one `schemahub compact` run."""

    target_file_mb: int
    dry_run: bool
    partitions: list[PartitionResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (for --json)."""
        return asdict(self)


def _trade_ts_lower_bound(data_file: DataFile) -> int:
    """The file's smallest trade_ts (µs), from its column statistics (0 when absent)."""
    bound = (data_file.lower_bounds or {}).get(field_id("trade_ts"))
    return int(from_bytes(TimestamptzType(), bound)) if bound else 0


def plan_bins(files: list[DataFile], target_bytes: int) -> list[list[DataFile]]:
    """Groups of 2+ small files, in trade_ts order, each at most `target_bytes` on disk."""
    small = sorted(
        (f for f in files if f.file_size_in_bytes < SMALL_FRACTION * target_bytes),
        key=lambda f: (_trade_ts_lower_bound(f), f.file_path),
    )
    bins: list[list[DataFile]] = []
    current: list[DataFile] = []
    size = 0
    for data_file in small:
        if current and size + data_file.file_size_in_bytes > target_bytes:
            bins.append(current)
            current, size = [], 0
        current.append(data_file)
        size += data_file.file_size_in_bytes
    bins.append(current)
    return [group for group in bins if len(group) > 1]


class _SortedInput:
    """One input file of a bin, loaded a row group at a time.

    Its rows are in (trade_ts, id) order, so every trade_ts below the last one loaded is
    entirely loaded.
    """

    def __init__(self, io: FileIO, data_file: DataFile) -> None:
        self.path = data_file.file_path
        self._stream = io.new_input(self.path).open()
        try:
            self._file = pq.ParquetFile(cast(IO[bytes], self._stream))
            self._next_group = 0
            self.rows = UNIFIED_SCHEMA.empty_table()
            self.micros = np.empty(0, dtype=np.int64)
            if self._file.num_row_groups:
                self.load_more()
        except BaseException:
            self._stream.close()
            raise

    def close(self) -> None:
        """Release the file (its reader keeps buffers): as soon as it is done, not at bin end."""
        self._file.close()
        self._stream.close()

    @property
    def limit(self) -> int:
        """Rows with a trade_ts (µs) below this are all loaded (no limit once fully read)."""
        if self._next_group < self._file.num_row_groups:
            return int(self.micros[-1]) if len(self.micros) else -1
        return _NO_LIMIT

    @property
    def done(self) -> bool:
        """Fully read and fully taken."""
        return self.limit == _NO_LIMIT and not len(self.micros)

    def load_more(self) -> None:
        """Append the file's next row group to the loaded rows."""
        group = self._file.read_row_group(self._next_group, columns=UNIFIED_SCHEMA.names)
        self._next_group += 1
        micros = np.asarray(pc.cast(group["trade_ts"], pa.int64()).to_numpy(), dtype=np.int64)
        if len(self.micros) and len(micros) and micros[0] < self.micros[-1]:
            raise maintenance.MaintenanceError(
                f"compact: {self.path} is not sorted by trade_ts (row group {self._next_group - 1}"
                f" goes back in time); nothing was changed. Rewrite that partition with "
                f"`schemahub rebuild`, which sorts, then compact again."
            )
        self.rows = pa.concat_tables(
            [self.rows, group.select(UNIFIED_SCHEMA.names).cast(UNIFIED_SCHEMA)]
        )
        self.micros = np.concatenate([self.micros, micros])

    def take_before(self, bound: int) -> pa.Table:
        """Remove and return the loaded rows whose trade_ts is below `bound`."""
        cut = int(np.searchsorted(self.micros, bound, side="left"))
        taken = self.rows.slice(0, cut)
        self.rows, self.micros = self.rows.slice(cut), self.micros[cut:]
        return taken


def merged_in_order(io: FileIO, group: list[DataFile], partition: Partition) -> Iterator[pa.Table]:
    """The rows of a bin's files in (trade_ts, id) order, a chunk at a time.

    A file is opened once the merge reaches its smallest trade_ts; each round emits every
    loaded row below the smallest trade_ts not yet fully loaded, then loads what held it back.
    """
    waiting = sorted(group, key=lambda f: (_trade_ts_lower_bound(f), f.file_path))
    active: list[_SortedInput] = []
    try:
        while waiting or active:
            next_start = _trade_ts_lower_bound(waiting[0]) if waiting else _NO_LIMIT
            bound = min([next_start, *(source.limit for source in active)])
            chunk = pa.concat_tables(
                [UNIFIED_SCHEMA.empty_table(), *(source.take_before(bound) for source in active)]
            )
            if chunk.num_rows:
                yield in_time_then_id_order(
                    chunk, integer_ids(chunk, partition.exchange, partition.symbol)
                )
            for source in active:
                if source.limit == bound < _NO_LIMIT:
                    source.load_more()
            if waiting and next_start == bound:
                active.append(_SortedInput(io, waiting.pop(0)))
            for source in active:
                if source.done:
                    source.close()
            active = [source for source in active if not source.done]
    finally:
        for source in active:
            source.close()


def row_groups(
    chunks: Iterable[pa.Table], max_rows: int, max_bytes: int = ROW_GROUP_ARROW_BYTES
) -> Iterator[pa.Table]:
    """The rows of `chunks`, in order, regrouped into row groups of at most `max_rows` rows.

    A group is cut earlier once it takes `max_bytes` as Arrow.
    """
    pending: list[pa.Table] = []
    rows = size = 0
    for chunk in chunks:
        pending.append(chunk)
        rows, size = rows + chunk.num_rows, size + chunk.nbytes
        while rows >= max_rows or (rows and size >= max_bytes):
            table = pa.concat_tables(pending)
            yield table.slice(0, max_rows)
            rest = table.slice(max_rows)
            pending, rows, size = [rest], rest.num_rows, rest.nbytes
    if rows:
        yield pa.concat_tables(pending)


class Compactor:
    """Compacts the selected partitions of the Iceberg trades_unified, one commit each."""

    def __init__(self, table: Table, target_bytes: int) -> None:
        """`table`: the pyiceberg table (retries off, as the target sets them)."""
        self.table = table
        self.target_bytes = target_bytes

    def compact(self, selection: Selection, *, dry_run: bool = False) -> list[PartitionResult]:
        """Compact every selected partition; a partition that changed under it is skipped."""
        partitions = maintenance.live_files(self.table, selection)
        progress = CountProgress("compact: partitions", len(partitions), logger)
        results = []
        for partition, files in sorted(partitions.items()):
            results.append(self._partition(partition, files, dry_run))
            progress.advance(f"{partition} {results[-1].status}")
        return results

    def _partition(
        self, partition: Partition, files: list[DataFile], dry_run: bool
    ) -> PartitionResult:
        bins = plan_bins(files, self.target_bytes)
        inputs = [f for group in bins for f in group]
        result = PartitionResult(
            str(partition),
            files_before=len(files),
            files_after=len(files) - len(inputs) + len(bins),
            rewritten_files=len(inputs),
            bytes_read=sum(f.file_size_in_bytes for f in inputs),
        )
        if not bins:
            result.status = "nothing to do"
            return result
        if dry_run:
            result.status = "would compact"
            return result
        written = [self._write_bin(partition, group) for group in bins]
        result.bytes_written = sum(f.file_size_in_bytes for f in written)
        for attempt in range(MAX_ATTEMPTS):
            try:
                maintenance.replace_files(self.table, inputs, written, "compact")
                return result
            except CommitFailedException:
                result.retries = attempt + 1
                self.table.refresh()
                live = maintenance.live_files(
                    self.table,
                    Selection(partition.exchange, partition.symbol, partition.day, partition.day),
                ).get(partition, [])
                live_paths = {f.file_path for f in live}
                gone = [f.file_path for f in inputs if f.file_path not in live_paths]
                if gone:
                    maintenance.delete_unreferenced(self.table, written)
                    result.status = "skipped"
                    result.reason = (
                        f"changed under the compaction: {len(gone)} of the files it read were "
                        f"replaced meanwhile (e.g. {gone[0]}); nothing of this partition was "
                        f"changed, rerun compact to try again"
                    )
                    result.files_after = len(live)
                    logger.warning("compact: %s skipped: %s", partition, result.reason)
                    return result
                # Only other files moved (an ingest appended): ours are still valid.
                inputs = [f for f in live if f.file_path in {i.file_path for i in inputs}]
                logger.info("compact: %s lost a commit race; committing again", partition)
        maintenance.delete_unreferenced(self.table, written)
        raise IcebergCommitError(
            f"compact: {partition}: {MAX_ATTEMPTS} commits in a row lost to other writers; "
            f"nothing of this partition was changed. Rerun when ingest is quieter."
        )

    def _write_bin(self, partition: Partition, group: list[DataFile]) -> DataFile:
        """Merge the files of one bin into one data file beside them, a row group at a time."""
        properties = self.table.properties
        row_group_rows = int(
            properties.get(
                TableProperties.PARQUET_ROW_GROUP_LIMIT,
                TableProperties.PARQUET_ROW_GROUP_LIMIT_DEFAULT,
            )
        )
        # Field ids in the file schema: Iceberg readers match columns by id, not by name.
        schema = pa.schema(
            [
                column.with_metadata({b"PARQUET:field_id": str(field_id(column.name)).encode()})
                for column in UNIFIED_SCHEMA
            ]
        )
        path = posixpath.join(
            posixpath.dirname(group[0].file_path), f"compact-{uuid.uuid4()}.parquet"
        )
        with (
            self.table.io.new_output(path).create() as stream,
            pq.ParquetWriter(
                cast(IO[bytes], stream),
                schema,
                store_decimal_as_integer=True,
                **_get_parquet_writer_kwargs(properties),
            ) as writer,
        ):
            chunks = merged_in_order(self.table.io, group, partition)
            for rows in row_groups(chunks, row_group_rows):
                writer.write_table(rows.cast(schema), row_group_rows)
        return parquet_file_to_data_file(self.table.io, self.table.metadata, path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `schemahub compact`."""
    parser.description = (
        "Bin-pack the small data files of each partition (exchange, symbol, day) of the Iceberg"
        " trades_unified into files near --target-file-mb, one atomic commit per partition."
        " Rows and committed id ranges stay as they are; safe while ingest runs."
    )
    maintenance.add_common_arguments(parser)
    maintenance.add_selection_arguments(parser, required=False)
    parser.add_argument(
        "--target-file-mb",
        type=int,
        default=DEFAULT_TARGET_FILE_MB,
        help="size of the files to make, in MB on disk; files of 3/4 of it or more are"
        f" left alone (default: {DEFAULT_TARGET_FILE_MB})",
    )


def run(args: argparse.Namespace) -> int:
    """Run `schemahub compact`; 0 done (skipped partitions are reported), 2 on errors."""
    try:
        with maintenance.progress_on_stderr():
            selection = maintenance.selection_from_args(args)
            if args.target_file_mb < 1:
                raise maintenance.MaintenanceError("--target-file-mb must be at least 1")
            table = maintenance.open_table_for("compact", args)
            report = CompactReport(args.target_file_mb, args.dry_run)
            report.partitions = Compactor(table, args.target_file_mb << 20).compact(
                selection, dry_run=args.dry_run
            )
    except maintenance.EXPECTED_ERRORS as exc:
        print(f"schemahub compact: {exc}", file=sys.stderr)
        return 2
    lines = [
        f"{p.partition}: {p.status}, {p.files_before} -> {p.files_after} files"
        + (f" ({p.reason})" if p.reason else "")
        for p in report.partitions
        if p.status != "nothing to do"
    ]
    changed = [p for p in report.partitions if p.status in ("compacted", "would compact")]
    lines.append(
        f"{len(changed)} partition(s) {'would be ' if args.dry_run else ''}compacted, "
        f"{sum(p.files_before - p.files_after for p in changed)} fewer files, "
        f"{sum(p.status == 'skipped' for p in report.partitions)} skipped"
    )
    maintenance.print_report(report.as_dict(), args.json, lines)
    return 0
