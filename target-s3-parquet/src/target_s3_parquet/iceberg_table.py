"""Exactly-once commits into `trades_unified` as an Apache Iceberg table (decisions.md, README).

The cumulative committed trade-id ranges of each (exchange, symbol) live in one table property
(`schemahub.committed-ids/<exchange>/<symbol>`), changed in the *same* Iceberg commit as the
appended data files. One commit of one (exchange, symbol):

1. refresh the table (skipped when this writer's own last commit is the newest it knows: if
   another writer committed since, step 3 is refused and this step runs again); drop rows
   whose id is in the property's ranges (or repeated in the batch);
2. write the Parquet data files (partitioned, sorted by trade_ts; kept across retries while
   nothing more has to be dropped);
3. one transaction: append the files (snapshot summary: the ranges added + a commit token) and
   set the merged ranges property. The catalog accepts it only if the table is still at the
   snapshot read in 1 (optimistic concurrency);
4. conflict: another writer committed first: back to 1. Any other error has an unknown outcome
   (a lost response): refresh and look for our commit token before doing anything else.

pyiceberg's own commit retry is off (`commit.retry.num-retries` = 0): it re-applies the same
append without re-reading the ranges, which duplicates trades when two writers race.
Data files and the append snapshot are written by `iceberg_append` (pyiceberg's write path and
transaction cost ~10x more per commit; see there).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException, NoSuchNamespaceError, NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import DoubleType, NestedField, StringType, TimestamptzType
from schemahub_core import iceberg as catalogs
from schemahub_core.paths import check_iceberg_partition_values
from schemahub_core.schema import UNIFIED_SCHEMA

from target_s3_parquet import iceberg_append, ranges, snapshot_expiry
from target_s3_parquet.unified import CommitResult, Part, in_time_then_id_order, integer_ids

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

RANGES_PROPERTY = "schemahub.committed-ids"
ADDED_SUMMARY = "schemahub.added-ids"
# Logged (INFO) at each commit race this writer lost and retries; counted by load tests.
LOST_RACE_LOG = "Another writer committed %s %s first (attempt %d); re-filtering against it."
TOKEN_SUMMARY = "schemahub.commit-token"
# A Glue table parameter value holds at most 512,000 characters.
MAX_RANGES_CHARS = 512_000
MAX_ATTEMPTS = 30
_ICEBERG_TYPES = {pa.string(): StringType(), pa.float64(): DoubleType()}
_CODECS = {"none": "uncompressed"}


class IcebergCommitError(RuntimeError):
    """A commit to the Iceberg table failed for good; names the table and the catalog."""


def unified_schema() -> Schema:
    """The Iceberg schema of `trades_unified`: the unified columns, ids 1.. in order."""
    fields = []
    for number, field in enumerate(UNIFIED_SCHEMA, start=1):
        kind = (
            TimestamptzType() if pa.types.is_timestamp(field.type) else _ICEBERG_TYPES[field.type]
        )
        fields.append(NestedField(number, field.name, kind, required=not field.nullable))
    return Schema(*fields)


def field_id(name: str) -> int:
    """The Iceberg field id of a unified column (1-based position in UNIFIED_SCHEMA)."""
    return UNIFIED_SCHEMA.names.index(name) + 1


PARTITION_SPEC = PartitionSpec(
    PartitionField(field_id("exchange"), 1000, IdentityTransform(), "exchange"),
    PartitionField(field_id("symbol"), 1001, IdentityTransform(), "symbol"),
    PartitionField(field_id("trade_ts"), 1002, DayTransform(), "trade_ts_day"),
)
SORT_ORDER = SortOrder(SortField(source_id=field_id("trade_ts"), transform=IdentityTransform()))


def table_properties(compression: str) -> dict[str, str]:
    """Properties our tables carry (set at creation, and re-set if someone changed them)."""
    return {
        "commit.retry.num-retries": "0",  # our own loop re-filters; see the module docstring
        "write.parquet.compression-codec": _CODECS.get(compression, compression),
        "commit.manifest-merge.enabled": "true",  # manifests stay few as commits accumulate
        "write.metadata.delete-after-commit.enabled": "true",
        "write.metadata.previous-versions-max": "20",
        # Snapshots kept for time travel by our expiry after a commit, and by engines'.
        snapshot_expiry.KEEP_PROPERTY: str(snapshot_expiry.KEEP_SNAPSHOTS),
    }


def ranges_key(exchange: str, symbol: str) -> str:
    """The table property holding the committed id ranges of one (exchange, symbol)."""
    return f"{RANGES_PROPERTY}/{exchange}/{symbol}"


def encode_ranges(committed: ranges.Ranges) -> str:
    """Ranges as compact text: `lo:hi` or a lone `id`, comma separated."""
    return ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in committed)


def decode_ranges(text: str | None) -> ranges.Ranges:
    """The ranges written by `encode_ranges` (empty for a missing property)."""
    if not text:
        return []
    result: ranges.Ranges = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        result.append((int(lo), int(hi or lo)))
    return result


def committed_ranges(table: Table) -> dict[tuple[str, str], ranges.Ranges]:
    """Every (exchange, symbol)'s committed id ranges as the table's properties hold them."""
    prefix = RANGES_PROPERTY + "/"
    result = {}
    for key, value in table.properties.items():
        if key.startswith(prefix):
            exchange, _, symbol = key[len(prefix) :].partition("/")
            result[(exchange, symbol)] = decode_ranges(value)
    return result


def open_table(catalog: Catalog, compression: str = "zstd") -> Table:
    """Load `schemahub.trades_unified`, creating the namespace and table when missing."""
    table = catalogs.create_racing(lambda: _load_or_create_table(catalog, compression))
    wanted = table_properties(compression)
    if table.properties.get("commit.retry.num-retries") != "0":
        # A table created elsewhere (Athena, terraform): turn pyiceberg's blind retry off first.
        table.transaction().set_properties(wanted).commit_transaction()
        table.refresh()
    return table


def _load_or_create_table(catalog: Catalog, compression: str) -> Table:
    try:
        return catalog.load_table(catalogs.UNIFIED_IDENTIFIER)
    except NoSuchTableError:
        pass
    try:
        catalog.load_namespace_properties(catalogs.NAMESPACE)
    except NoSuchNamespaceError:
        # Only then: a deployment's role may lack CreateDatabase (terraform made it).
        catalog.create_namespace_if_not_exists(catalogs.NAMESPACE)
    return catalog.create_table_if_not_exists(
        catalogs.UNIFIED_IDENTIFIER,
        # <output_uri>/schemahub/trades_unified with every catalog (Glue would add `.db`).
        location=catalogs.table_location(catalog.properties, catalogs.UNIFIED_IDENTIFIER),
        schema=unified_schema(),
        partition_spec=PARTITION_SPEC,
        sort_order=SORT_ORDER,
        properties={"format-version": "2", **table_properties(compression)},
    )


@dataclass
class _Prepared:
    """A part with its trade ids, and the first row of each distinct id in id order."""

    rows: pa.Table
    complete: bool
    ids: np.ndarray
    candidates: np.ndarray

    @classmethod
    def of(cls, part: Part, exchange: str, symbol: str) -> _Prepared:
        ids = integer_ids(part.rows, exchange, symbol)
        return cls(part.rows, part.complete, ids, ranges.first_row_of_each_id(ids))


def _fresh_rows(
    exchange: str, committed: ranges.Ranges, parts: list[_Prepared]
) -> tuple[list[np.ndarray], ranges.Ranges, ranges.Ranges]:
    """Each part's rows to append, the id ranges they add, and the committed ranges after.

    A part's rows: the first of each id neither committed nor in an earlier part, in id
    order (so already ascending: numpy's default sort would cost ~55 ms per 1M ids even so).
    """
    seen: ranges.Ranges = committed
    added: ranges.Ranges = []
    fresh: list[np.ndarray] = []
    for part in parts:
        rows = part.candidates[~ranges.contains(seen, part.ids[part.candidates])]
        new = ranges.added_ranges(exchange, part.ids[rows], seen, complete=part.complete)
        seen, added = ranges.merge(seen, new), ranges.merge(added, new)
        fresh.append(rows)
    return fresh, added, seen


class IcebergUnifiedTable:
    """Commits mapped trades (rows of `UNIFIED_SCHEMA`) exactly once into an Iceberg table."""

    def __init__(self, properties: dict[str, str], compression: str) -> None:
        """Open (or create) `trades_unified` in the catalog of `properties`; one writer id."""
        self.where = (
            f"table {'.'.join(catalogs.UNIFIED_IDENTIFIER)} in the {catalogs.describe(properties)}"
        )
        self.writer_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.logger = logging.getLogger("target_s3_parquet.iceberg")
        try:
            self.catalog = catalogs.load_catalog(properties)
            self.table = open_table(self.catalog, compression)
            # True while `self.table` is what this writer last loaded or committed itself: the
            # next commit then skips the refresh. If another writer committed meanwhile, the
            # catalog refuses ours (main moved), and the conflict path refreshes and re-filters.
            self._own_latest = True
        except Exception as exc:
            raise IcebergCommitError(
                f"cannot open or create the {self.where}: {type(exc).__name__}: {exc}. Check "
                f"that the catalog is reachable and writable (iceberg_catalog setting)."
            ) from exc

    @classmethod
    def open(cls, config: dict[str, Any], *, compression: str) -> IcebergUnifiedTable:
        """The table under the target config's output_uri / iceberg_catalog."""
        return cls(catalog_properties_for_target(config), compression)

    def sweep_staging(self) -> None:
        """Nothing to finish: a commit is one catalog transaction, never half done.

        Data files of a writer killed before its commit are referenced by no snapshot; they are
        removed by `schemahub expire` (never read by any reader meanwhile).
        """

    def _refresh(self) -> None:
        for attempt in range(3):  # loads are idempotent; the commit itself is never blind-retried
            try:
                self.table.refresh()
                return
            except Exception as exc:
                if attempt == 2:
                    raise IcebergCommitError(
                        f"cannot read the {self.where}: {type(exc).__name__}: {exc}"
                    ) from exc
                time.sleep(0.5 * (attempt + 1))

    def _landed(self, token: str) -> bool:
        """After an error of unknown outcome: is the snapshot carrying `token` in the table?"""
        self._refresh()
        return any(
            s.summary is not None and s.summary.get(TOKEN_SUMMARY) == token
            for s in self.table.metadata.snapshots
        )

    def commit(
        self, exchange: str, symbol: str, table: pa.Table, *, complete: bool = False
    ) -> CommitResult:
        """Append the trades of `table` (one exchange and symbol) not yet in the table.

        `complete`: as for the Hive table (`UnifiedTableWriter.commit`): on exchanges with
        sparse ids a complete batch records the span it covers, which keeps the ranges
        property small.
        """
        return self.commit_parts(exchange, symbol, [Part(table, complete)])

    def commit_parts(self, exchange: str, symbol: str, parts: Sequence[Part]) -> CommitResult:
        """Append the trades of `parts` (one exchange and symbol, in input order) in one commit.

        Each part is filtered as if committed after the ones before it (a trade repeated in a
        later part is dropped); one snapshot carries them all (staging.py groups batches so).
        """
        check_iceberg_partition_values(("exchange", exchange), ("symbol", symbol))
        prepared = [_Prepared.of(part, exchange, symbol) for part in parts]
        total = sum(part.rows.num_rows for part in parts)
        key = ranges_key(exchange, symbol)
        written: list[DataFile] = []
        written_for: list[np.ndarray] | None = None  # the fresh rows `written` holds
        for attempt in range(MAX_ATTEMPTS):
            if attempt or not self._own_latest:
                self._refresh()
            self._own_latest = False
            committed = decode_ranges(self.table.properties.get(key))
            fresh, added, merged_ranges = _fresh_rows(exchange, committed, prepared)
            count = sum(rows.size for rows in fresh)
            if written_for is None or not all(map(np.array_equal, fresh, written_for)):
                self._delete(written)  # another writer committed some of them meanwhile
                written, written_for = [], fresh
                if count:
                    written = self._write(exchange, symbol, prepared, fresh)
            if count == 0:
                return CommitResult(exchange, symbol, 0, total, ())
            merged = encode_ranges(merged_ranges)
            if len(merged) > MAX_RANGES_CHARS:
                self._delete(written)
                raise self._ranges_too_long(exchange, symbol, len(merged))
            if not self._attempt(exchange, symbol, attempt, written, key, merged, added):
                continue
            self._own_latest = snapshot_expiry.expire_old_snapshots(self.table, self.where)
            return CommitResult(
                exchange, symbol, count, total - count, tuple(f.file_path for f in written)
            )
        raise self._failed(exchange, symbol, CommitFailedException(f"{MAX_ATTEMPTS} conflicts"))

    def _ranges_too_long(self, exchange: str, symbol: str, chars: int) -> IcebergCommitError:
        """The error for ranges over what a Glue table parameter holds."""
        return IcebergCommitError(
            f"{exchange} {symbol}: the committed trade-id ranges would take "
            f"{chars:,} characters, over the {MAX_RANGES_CHARS:,} a Glue table "
            f"parameter holds ({self.where}); this symbol's ids are too sparse for "
            f"range tracking. Nothing was committed for it."
        )

    def _attempt(
        self,
        exchange: str,
        symbol: str,
        attempt: int,
        written: list[DataFile],
        key: str,
        merged: str,
        added: ranges.Ranges,
    ) -> bool:
        """One commit attempt: True once it landed, False when it must be re-filtered.

        Raises when the last attempt failed and did not land.
        """
        token = f"{self.writer_id}:{uuid.uuid4().hex}"
        try:
            self._commit_files(written, key, merged, encode_ranges(added), token)
        except CommitFailedException:
            # The catalog refused it (another writer moved the table): it did not land.
            self.logger.info(LOST_RACE_LOG, exchange, symbol, attempt + 1)
            time.sleep(random.uniform(0, 0.05 * (attempt + 1)))
            return False
        except Exception as exc:
            if self._landed(token):  # the commit landed, only its answer was lost
                self.logger.info("Commit of %s %s landed despite %r.", exchange, symbol, exc)
                return True
            if attempt == MAX_ATTEMPTS - 1:
                raise self._failed(exchange, symbol, exc) from exc
            self.logger.warning(
                "Commit of %s %s failed (%s: %s); it did not land, retrying.",
                exchange,
                symbol,
                type(exc).__name__,
                exc,
            )
            time.sleep(0.5 * (attempt + 1))
            return False
        return True

    def _failed(self, exchange: str, symbol: str, exc: Exception) -> IcebergCommitError:
        return IcebergCommitError(
            f"{exchange} {symbol}: commit to the {self.where} failed: {type(exc).__name__}: "
            f"{exc}. Nothing of this batch is in the table and no STATE covering it was "
            f"emitted; rerun once the catalog accepts commits (it resumes exactly once)."
        )

    def _write(
        self, exchange: str, symbol: str, parts: list[_Prepared], fresh: list[np.ndarray]
    ) -> list[DataFile]:
        """Write the fresh rows as data files (one per trade_ts day, sorted by trade_ts)."""
        tables, ids = [], []
        for part, rows in zip(parts, fresh, strict=True):
            if rows.size:
                table = part.rows
                in_order = rows.size == table.num_rows and bool(
                    np.all(rows == np.arange(rows.size))
                )
                tables.append(table if in_order else table.take(pa.array(rows)))
                ids.append(part.ids[rows])
        together = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        in_order = in_time_then_id_order(together, np.concatenate(ids))
        return iceberg_append.write_data_files(self.table, exchange, symbol, in_order)

    def _delete(self, files: list[DataFile]) -> None:
        """Remove data files no snapshot references (written for an attempt that lost)."""
        for data_file in files:
            try:
                self.table.io.delete(data_file.file_path)
            except OSError as exc:
                self.logger.warning("Could not delete unused %s: %s", data_file.file_path, exc)

    def _commit_files(
        self, files: list[DataFile], key: str, merged: str, added: str, token: str
    ) -> None:
        """One Iceberg commit: append `files` and set the merged ranges property."""
        summary = {
            ADDED_SUMMARY: f"{key.removeprefix(RANGES_PROPERTY + '/')}={added}",
            TOKEN_SUMMARY: token,
        }
        append = iceberg_append.Append(self.table, files, summary)
        try:
            self.table = append.commit({key: merged})
        except CommitFailedException:
            if self._landed(token):  # never delete what a landed snapshot refers to
                return
            append.discard(self.table.io)
            raise


def catalog_properties_for_target(config: dict[str, Any]) -> dict[str, str]:
    """The catalog properties from the target settings (output_uri, iceberg_catalog, AWS)."""
    return catalogs.catalog_properties(
        config.get("output_uri") or "./output",
        with_glue_commit_retries_off(config.get("iceberg_catalog")),
        s3_endpoint_url=config.get("s3_endpoint_url"),
        aws_region=config.get("aws_region"),
        aws_access_key_id=config.get("aws_access_key_id"),
        aws_secret_access_key=config.get("aws_secret_access_key"),
        aws_session_token=config.get("aws_session_token"),
    )


def with_glue_commit_retries_off(configured: dict[str, Any] | None) -> dict[str, Any] | None:
    """A Glue catalog's client must not retry UpdateTable by itself.

    botocore retrying a commit whose response was lost turns it into a conflict, after which
    pyiceberg deletes the manifests of a snapshot that did land. With retries off, the error
    reaches our loop, which first checks whether the commit landed.
    """
    if configured and configured.get("type") == "glue":
        return {"glue.max-retries": "0", **configured}
    return configured
