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

It cleans every SchemaHub table of the `schemahub` namespace (trades_unified and the
`raw_<stream>` tables of `iceberg_raw_tables`), one after the other, or those named by
`--table`. Each table's files live in a folder of their own (`<warehouse>/schemahub/<table>`),
so listing one table's location never meets another table's files.
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
from schemahub_core import iceberg as catalogs
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
    """What `schemahub expire` removed (or would remove) from one table."""

    table: str
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
    name = table.name()[-1]
    report = ExpireReport(name, dry_run)
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
                    f"expire: {name}: {MAX_ATTEMPTS} commits in a row lost to other writers; "
                    f"no snapshot of it was expired and no file of it deleted. Rerun when "
                    f"ingest is quieter."
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
    progress = CountProgress(f"expire: {name}: unreferenced files", len(candidates), logger)
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


def schemahub_tables(unified: Table, names: list[str] | None = None) -> list[Table]:
    """trades_unified and the `raw_<stream>` tables of its namespace (or those of `names`).

    Other tables someone keeps in the namespace are never touched.
    """
    found = {
        identifier[-1]: identifier
        for identifier in unified.catalog.list_tables(catalogs.NAMESPACE)
        if identifier == catalogs.UNIFIED_IDENTIFIER
        or identifier[-1].startswith(catalogs.RAW_TABLE_PREFIX)
    }
    unknown = sorted(set(names or ()) - set(found))
    if unknown:
        raise maintenance.MaintenanceError(
            f"no SchemaHub table {unknown[0]!r} in the namespace {catalogs.NAMESPACE!r}: "
            f"--table takes one of {sorted(found)}"
        )
    return [unified.catalog.load_table(found[name]) for name in sorted(names or found)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `schemahub expire`."""
    parser.description = (
        "Expire old snapshots of the Iceberg trades_unified and raw_<stream> tables, then delete"
        " the data and metadata files no live snapshot references and older than --grace;"
        " reports files and bytes per table."
    )
    maintenance.add_common_arguments(parser)
    parser.add_argument(
        "--table",
        action="append",
        dest="tables",
        metavar="NAME",
        help="clean only this table (trades_unified or raw_<stream>); repeatable"
        " (default: every SchemaHub table of the namespace)",
    )
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
            unified = maintenance.open_table_for("expire", args)
            reports = []
            for table in schemahub_tables(unified, args.tables):
                filesystem, _ = output_root(
                    table.location(),
                    s3_endpoint_url=args.s3_endpoint_url,
                    aws_region=args.aws_region,
                )
                reports.append(
                    expire(
                        table,
                        filesystem,
                        older_than=args.older_than,
                        keep=args.keep,
                        grace=args.grace,
                        dry_run=args.dry_run,
                    )
                )
    except maintenance.EXPECTED_ERRORS as exc:
        print(f"schemahub expire: {exc}", file=sys.stderr)
        return 2
    verb = "would be " if args.dry_run else ""
    grace = format_duration(args.grace.total_seconds())
    lines = [
        f"{r.table}: {len(r.snapshots_expired)} snapshot(s) {verb}expired, {r.snapshots_kept} "
        f"kept; {len(r.files_removed)} unreferenced file(s) {verb}removed, {r.bytes_freed:,} "
        f"bytes freed; {r.unreferenced_in_grace} younger than the grace period ({grace}) left"
        for r in reports
    ]
    report = {"dry_run": args.dry_run, "tables": [r.as_dict() for r in reports]}
    maintenance.print_report(report, args.json, lines)
    return 0
