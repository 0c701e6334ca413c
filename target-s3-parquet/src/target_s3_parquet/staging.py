"""Mapped trades staged between commits of trades_unified: one commit for several batches.

An Iceberg commit is a snapshot: a manifest, a manifest list and a new table metadata file,
committed through the catalog: ~18 ms of Python holding the GIL each (bench/README.md), and
one more snapshot in the table's history. Input batches stay small (`batch_size_rows` bounds
the memory that parsing holds), and their mapped trades are staged here until
`iceberg_commit_rows` of them wait, the oldest has waited `max_batch_age_seconds`, a BATCH
message comes, or the input ends; then each (exchange, symbol) is committed once
(`UnifiedTable.commit_parts`: the parts filtered in input order, one snapshot). Rows for
the raw Iceberg tables (`iceberg_raw_tables`) are written as data files at once and
appended first, one snapshot per stream (so they hold no memory while staged).

Nothing staged is in the table yet: the target relays a STATE only when nothing is staged,
so no STATE covers a staged trade (a run stopped meanwhile replays them from the STATE
before). The Hive table commits every batch (`commit_rows` 1): its commit is one small
record object, so grouping would only delay the STATE.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from target_s3_parquet.unified import CommitResult, Part

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile

    from target_s3_parquet.iceberg_raw import IcebergRawTables
    from target_s3_parquet.tables import UnifiedTable

DEFAULT_ICEBERG_COMMIT_ROWS = 250_000


class StagedTrades:
    """Mapped trades waiting for their commit, by (exchange, symbol), in input order."""

    def __init__(self, commit_rows: int, max_age_seconds: float) -> None:
        """Commit once `commit_rows` trades wait or the oldest has waited `max_age_seconds`."""
        self.commit_rows = commit_rows
        self.max_age_seconds = max_age_seconds
        self.rows = 0
        # Monotonic clock when the oldest staged trade's record reached the target.
        self.since: float | None = None
        self._parts: dict[tuple[str, str], list[Part]] = {}
        # Data files written for the raw Iceberg tables (iceberg_raw_tables), by stream.
        self._raw: dict[str, list[DataFile]] = {}

    @property
    def empty(self) -> bool:
        """Whether nothing waits for a commit (no trade, no raw table row)."""
        return not self._parts and not self._raw

    def add(self, mapped: pa.Table, *, complete: bool, since: float) -> None:
        """Stage mapped rows (any exchanges and symbols) whose first record came at `since`."""
        for exchange, symbol, rows in by_symbol(mapped):
            self._parts.setdefault((exchange, symbol), []).append(Part(rows, complete))
        self.rows += mapped.num_rows
        self.since = since if self.since is None else min(self.since, since)

    def add_raw(self, stream: str, data_file: DataFile, *, since: float) -> None:
        """Stage a data file written for `raw_<stream>` (appended before the trades)."""
        self._raw.setdefault(stream, []).append(data_file)
        self.since = since if self.since is None else min(self.since, since)

    def due(self, now: float) -> bool:
        """Whether the staged trades should be committed now (monotonic `now`)."""
        if self.since is None:
            return False
        if self.commit_rows == 1:  # a commit per batch (raw table files without trades too)
            return True
        return self.rows >= self.commit_rows or now - self.since >= self.max_age_seconds

    def seconds_until_due(self, now: float) -> float | None:
        """Seconds until the oldest staged trade reaches its age (None: nothing staged)."""
        if self.since is None:
            return None
        return max(0.0, self.since + self.max_age_seconds - now)

    def commit(
        self, unified: UnifiedTable, raw_tables: IcebergRawTables | None = None
    ) -> list[CommitResult]:
        """Commit everything staged: one commit per (exchange, symbol), first staged first.

        Rows for the raw Iceberg tables go first, one append per stream (at least once:
        before the trades they hold are committed, as the raw files are written first).
        """
        for stream, files in list(self._raw.items()):
            assert raw_tables is not None, "raw table files staged without raw tables"
            raw_tables.commit(stream, files)
            del self._raw[stream]
        results = []
        for (exchange, symbol), parts in list(self._parts.items()):
            results.append(unified.commit_parts(exchange, symbol, parts))
            del self._parts[(exchange, symbol)]
        self.rows, self.since = 0, None
        return results


def by_symbol(mapped: pa.Table) -> Iterator[tuple[str, str, pa.Table]]:
    """The rows of each (exchange, symbol) in `mapped`, as (exchange, symbol, rows)."""
    if mapped.num_rows and all(_single_valued(mapped.column(c)) for c in ("exchange", "symbol")):
        # The usual batch (one product): no hashing, no filtered copy of every column.
        yield mapped.column("exchange")[0].as_py(), mapped.column("symbol")[0].as_py(), mapped
        return
    keys = mapped.group_by(["exchange", "symbol"], use_threads=False).aggregate([])
    for exchange, symbol in zip(
        keys.column("exchange").to_pylist(), keys.column("symbol").to_pylist(), strict=True
    ):
        mask = pc.and_(
            pc.equal(mapped.column("exchange"), exchange),
            pc.equal(mapped.column("symbol"), symbol),
        )
        yield exchange, symbol, mapped.filter(mask)


def _single_valued(column: pa.ChunkedArray) -> bool:
    """Whether every value of a non-empty, non-null `column` equals its first."""
    return bool(pc.all(pc.equal(column, column[0])).as_py())
