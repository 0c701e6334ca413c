"""`schemahub expire`: drop old snapshots, then delete the files no live snapshot references.

pyiceberg's `expire_snapshots` only removes snapshot entries from the metadata; it deletes no
file. So, after expiring, every file under the table's location is listed and deleted when
(a) no live snapshot and no kept metadata file references it: not a data file of a live
snapshot, not one of their manifests or manifest lists, not the current metadata file nor one
in its metadata log, not a statistics file; and (b) it is older than the grace period. (b) is
what keeps the files of a commit in flight safe: a writer writes its data files, manifests and
metadata file before the catalog points at them, so for that while they are unreferenced.
Give the grace period more than the longest commit (default 3 days, as Iceberg's own
remove-orphan-files).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow.fs as pafs
from pyiceberg.exceptions import CommitFailedException
from schemahub_core.iceberg import filesystem_path
from schemahub_core.progress import CountProgress, format_duration
from schemahub_core.query import output_root

from target_s3_parquet import maintenance
from target_s3_parquet.iceberg_table import IcebergCommitError

if TYPE_CHECKING:
    from pyiceberg.table import Table

DEFAULT_OLDER_THAN = "7d"
DEFAULT_KEEP = 10
DEFAULT_GRACE = "3d"
MAX_ATTEMPTS = 5
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
logger = logging.getLogger("schemahub.expire")


def parse_duration(text: str) -> dt.timedelta:
    """`30m`, `12h`, `7d` (seconds, minutes, hours, days) as a timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: write a number and a unit s, m, h or d (e.g. 7d, 12h)"
        )
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass
class ExpireReport:
    """What `schemahub expire` removed (or would remove)."""

    dry_run: bool
    snapshots_expired: list[int] = field(default_factory=list)
    snapshots_kept: int = 0
    files_removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    unreferenced_in_grace: int = 0  # unreferenced but too young to delete

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (for --json)."""
        return asdict(self)


def snapshots_to_expire(table: Table, cutoff_ms: int, keep: int) -> list[int]:
    """Snapshots older than the cutoff, except the newest `keep` and every branch or tag head."""
    newest_first = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms, reverse=True)
    protected = {s.snapshot_id for s in newest_first[:keep]}
    protected |= {ref.snapshot_id for ref in table.metadata.refs.values()}
    return [
        s.snapshot_id
        for s in newest_first
        if s.timestamp_ms < cutoff_ms and s.snapshot_id not in protected
    ]


def referenced_files(table: Table, expired: set[int]) -> set[str]:
    """Every file a live snapshot or the kept metadata references, as filesystem paths.

    `expired`: snapshots to treat as gone already (a dry run, which expires nothing).
    """
    metadata = table.metadata
    paths = {table.metadata_location}
    paths |= {entry.metadata_file for entry in metadata.metadata_log}
    paths |= {stats.statistics_path for stats in metadata.statistics}
    paths |= {stats.statistics_path for stats in metadata.partition_statistics}
    for snapshot in metadata.snapshots:
        if snapshot.snapshot_id in expired:
            continue
        paths.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            paths.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                paths.add(entry.data_file.file_path)
    return {filesystem_path(path) for path in paths}


def expire(
    table: Table,
    filesystem: pafs.FileSystem,
    *,
    older_than: dt.timedelta,
    keep: int,
    grace: dt.timedelta,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> ExpireReport:
    """Expire snapshots older than `older_than` (keeping `keep`), then delete orphan files.

    `filesystem`: the one the table's location is on (local, or S3 with its endpoint).
    """
    now = now or dt.datetime.now(dt.UTC)
    report = ExpireReport(dry_run)
    cutoff_ms = int((now - older_than).timestamp() * 1000)
    for attempt in range(MAX_ATTEMPTS):
        expiring = snapshots_to_expire(table, cutoff_ms, keep)
        if dry_run or not expiring:
            break
        try:
            table.maintenance.expire_snapshots().by_ids(expiring).commit()
            break
        except CommitFailedException:  # a writer committed meanwhile: look again
            table.refresh()
            if attempt == MAX_ATTEMPTS - 1:
                raise IcebergCommitError(
                    f"expire: {MAX_ATTEMPTS} commits in a row lost to other writers; no "
                    f"snapshot was expired and no file deleted. Rerun when ingest is quieter."
                ) from None
    report.snapshots_expired = expiring
    table.refresh()
    referenced = referenced_files(table, set(expiring) if dry_run else set())
    report.snapshots_kept = len(table.metadata.snapshots) - (len(expiring) if dry_run else 0)
    root = filesystem_path(table.location())
    listed = filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    candidates = [
        info for info in listed if info.type == pafs.FileType.File and info.path not in referenced
    ]
    young = now - grace
    progress = CountProgress("expire: unreferenced files", len(candidates), logger)
    for info in candidates:
        if info.mtime is None or info.mtime > young:
            report.unreferenced_in_grace += 1  # may be a commit in flight
        else:
            if not dry_run:
                filesystem.delete_file(info.path)
            report.files_removed.append(info.path)
            report.bytes_freed += info.size or 0
        progress.advance(info.path)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `schemahub expire`."""
    parser.description = (
        "Expire old snapshots of the Iceberg trades_unified, then delete the data and metadata"
        " files no live snapshot references and older than --grace; reports files and bytes."
    )
    maintenance.add_common_arguments(parser)
    parser.add_argument(
        "--older-than",
        type=parse_duration,
        default=parse_duration(DEFAULT_OLDER_THAN),
        help="expire snapshots older than this: 30m, 12h, 7d ..."
        f" (default: {DEFAULT_OLDER_THAN}; time travel reaches back this far at least)",
    )
    parser.add_argument(
        "--keep",
        type=int,
        default=DEFAULT_KEEP,
        help=f"always keep the newest N snapshots, whatever their age (default: {DEFAULT_KEEP})",
    )
    parser.add_argument(
        "--grace",
        type=parse_duration,
        default=parse_duration(DEFAULT_GRACE),
        help="delete unreferenced files only once older than this, so that files of commits"
        f" in flight survive; longer than any commit takes (default: {DEFAULT_GRACE})",
    )


def run(args: argparse.Namespace) -> int:
    """Run `schemahub expire`; 0 done, 2 on errors."""
    try:
        with maintenance.progress_on_stderr():
            if args.keep < 1:
                raise maintenance.MaintenanceError(
                    "--keep must be at least 1 (the current snapshot)"
                )
            table = maintenance.open_table_for("expire", args)
            filesystem, _ = output_root(
                table.location(), s3_endpoint_url=args.s3_endpoint_url, aws_region=args.aws_region
            )
            report = expire(
                table,
                filesystem,
                older_than=args.older_than,
                keep=args.keep,
                grace=args.grace,
                dry_run=args.dry_run,
            )
    except maintenance.EXPECTED_ERRORS as exc:
        print(f"schemahub expire: {exc}", file=sys.stderr)
        return 2
    verb = "would be " if args.dry_run else ""
    lines = [
        f"{len(report.snapshots_expired)} snapshot(s) {verb}expired, {report.snapshots_kept} kept",
        f"{len(report.files_removed)} unreferenced file(s) {verb}removed, "
        f"{report.bytes_freed:,} bytes freed",
        f"{report.unreferenced_in_grace} unreferenced file(s) younger than the grace period "
        f"({format_duration(args.grace.total_seconds())}) left in place",
    ]
    maintenance.print_report(report.as_dict(), args.json, lines)
    return 0
