"""Snapshot expiry after a commit, for every Iceberg table the target appends to.

A table keeps its newest `history.expire.min-snapshots-to-keep` snapshots (KEEP_SNAPSHOTS
unless the table says otherwise); older ones are expired once there are twice as many, so the
metadata (and the time to copy and rewrite it at every commit) stays bounded. pyiceberg's
expiry removes only snapshot entries, so after it the metadata files only expired snapshots
used are deleted too: their manifest lists (one per snapshot, never shared) and the manifests
no remaining snapshot lists. That is safe beside other writers: a commit in flight builds on
a live snapshot (the newest), so its manifests are either its own new ones or live ones.
Data files are never deleted here (an append never removes one from the table); files only
expired snapshots read (compacted or rebuilt away) are deleted by `schemahub expire`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

KEEP_SNAPSHOTS = 100
KEEP_PROPERTY = "history.expire.min-snapshots-to-keep"  # Iceberg's name; engines read it too
logger = logging.getLogger("target_s3_parquet.iceberg")


def expire_old_snapshots(table: Table, where: str) -> bool:
    """Expire the snapshots beyond the newest kept ones, then delete their metadata files.

    Housekeeping after a commit: a failure is logged (and retried after a later commit), never
    raised. Returns False when the expiry commit failed: `table` may then be stale.
    """
    keep = int(table.properties.get(KEEP_PROPERTY, KEEP_SNAPSHOTS))
    snapshots = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)
    if len(snapshots) <= 2 * keep:
        return True
    current = table.metadata.current_snapshot_id
    old = [s for s in snapshots[:-keep] if s.snapshot_id != current]
    try:
        table.maintenance.expire_snapshots().by_ids([s.snapshot_id for s in old]).commit()
    except Exception as exc:
        logger.warning("Could not expire %d old snapshots of the %s: %s", len(old), where, exc)
        return False
    try:
        delete_metadata_of_expired(table, old)
    except Exception as exc:
        logger.warning(
            "Expired %d old snapshots of the %s but could not delete their metadata files "
            "(%s); they are orphans for `schemahub expire`, never read.",
            len(old),
            where,
            exc,
        )
    return True


def delete_metadata_of_expired(table: Table, expired: list[Snapshot]) -> None:
    """Delete the manifest lists of `expired` and the manifests no live snapshot of `table` lists.

    `table` is as the expiry commit left it (the expired snapshots no longer in it).
    """
    io = table.io
    live = {m.manifest_path for s in table.metadata.snapshots for m in s.manifests(io)}
    unused = {m.manifest_path for s in expired for m in s.manifests(io)} - live
    for path in sorted(unused) + [s.manifest_list for s in expired]:
        try:
            io.delete(path)
        except OSError as exc:  # already gone, or the store refused: an orphan, never read
            logger.warning("Could not delete the unused metadata file %s: %s", path, exc)
