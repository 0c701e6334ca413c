"""`schemahub compact`: bin-pack each partition's small data files into files near a target size.

Per partition (exchange, symbol, day): the files smaller than 3/4 of the target are taken in
trade_ts order and grouped into bins of at most the target size on disk; each bin of two or
more files is read, sorted by trade_ts (then id) and written as one zstd file like the
target writes. Then one Iceberg commit per partition deletes the bins' files and adds the new
ones: rows and the committed id ranges (table properties) are untouched, and the snapshot
carries no ranges in its summary.

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
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.conversions import from_bytes
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from pyiceberg.types import TimestamptzType
from schemahub_core.progress import CountProgress
from schemahub_core.schema import UNIFIED_SCHEMA

from target_s3_parquet import maintenance
from target_s3_parquet.iceberg_table import IcebergCommitError, field_id
from target_s3_parquet.maintenance import Partition, Selection
from target_s3_parquet.unified import in_time_then_id_order, integer_ids

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

DEFAULT_TARGET_FILE_MB = 128
# A file this fraction of the target or larger is left alone (Iceberg's min-file-size default).
SMALL_FRACTION = 0.75
MAX_ATTEMPTS = 10
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


class Compactor:
    """Compacts the selected partitions of the Iceberg trades_unified, one commit each."""

    def __init__(self, table: Table, target_bytes: int) -> None:
        """`table`: the pyiceberg table (retries off, as the target sets them)."""
        self.table = table
        self.target_bytes = target_bytes
        # Each bin becomes one file: pyiceberg's own split (by in-memory size) is disabled.
        self._metadata = table.metadata.model_copy(
            update={
                "properties": {
                    **table.metadata.properties,
                    "write.target-file-size-bytes": str(1 << 62),
                }
            }
        )

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
        """Read the files of one bin, sort the rows, write them as one data file."""
        rows = pa.concat_tables([self._read(f.file_path) for f in group])
        ids = integer_ids(rows, partition.exchange, partition.symbol)
        rows = in_time_then_id_order(rows, ids).cast(UNIFIED_SCHEMA)
        (data_file,) = _dataframe_to_data_files(
            table_metadata=self._metadata, df=rows, io=self.table.io
        )
        return data_file

    def _read(self, file_path: str) -> pa.Table:
        with self.table.io.new_input(file_path).open() as stream:
            return pq.read_table(stream).select(UNIFIED_SCHEMA.names)


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
