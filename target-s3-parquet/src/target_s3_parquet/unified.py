"""Exactly-once commits into `trades_unified` (protocol: README "Commit protocol", decisions.md).

Per (exchange, symbol) there is a chain of commit records
`_commits/trades_unified/exchange=E/symbol=S/<seq>.json`, seq = 1, 2, 3, ... without gaps.
Record k holds the *cumulative* set of committed trade-id ranges after commit k, the ranges
it added, and the data files it published. One commit:

1. drop rows whose id is already in the latest record's ranges (or repeated in the batch);
2. write the Parquet files under `_staging/` (same partition path, same file name);
3. make sure record k's files are all published (roll it forward from staging if its writer
   died), then create record k+1 *conditionally* (If-None-Match / link); losing that race
   means another writer committed first: reread, refilter, retry. A record that is already
   there byte for byte is our own (a PUT whose response was lost and was retried): committed;
4. publish: link (local) or PUT-if-absent (S3) each file to `unified/...`, delete staging.

A crash before 3 leaves only staging litter (swept later); a crash after 3 leaves a record
whose files any later writer publishes from staging before it commits (step 3) or at start
(`sweep_staging`). Readers of `unified/**/*.parquet` see only complete, committed files.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from schemahub_core.paths import partition_path, partition_values
from schemahub_core.schema import (
    FILE_SCHEMA,
    UNIFIED_TABLE,
    partition_dates,
)

from target_s3_parquet import ranges
from target_s3_parquet.storage import Storage, StorageError

UNIFIED_PREFIX = f"unified/{UNIFIED_TABLE}"
STAGING_PREFIX = f"_staging/{UNIFIED_TABLE}"
COMMITS_PREFIX = f"_commits/{UNIFIED_TABLE}"
RECORD_FORMAT = 1
# Staged files younger than this may belong to a live concurrent writer and are left alone by
# the sweep; a writer re-stages anything older than half of it before committing.
STAGING_GRACE_SECONDS = 3600.0
ROW_GROUP_ROWS = 128 * 1024
_DICTIONARY_COLUMNS = ["base_asset", "quote_asset", "side"]


class CommitConflictError(RuntimeError):
    """The commit log of one (exchange, symbol) is inconsistent; names the record."""


@dataclass
class ChainHead:
    """The latest commit record of one (exchange, symbol) as this process last read it."""

    seq: int = 0
    committed: ranges.Ranges = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    published: bool = False  # this process saw every file of this record in place


@dataclass(frozen=True)
class CommitResult:
    """What one commit of one (exchange, symbol) did."""

    exchange: str
    symbol: str
    rows_written: int
    rows_already_committed: int
    files: tuple[str, ...]


@dataclass(frozen=True)
class Part:
    """Mapped trades of one exchange and symbol, for a commit of several batches at once.

    `complete`: the rows hold every trade of the symbol between their first and last id (see
    `UnifiedTableWriter.commit`).
    """

    rows: pa.Table
    complete: bool = False


def _partition(exchange: str, symbol: str) -> str:
    return partition_path(("exchange", exchange), ("symbol", symbol))


class UnifiedTableWriter:
    """Commits mapped trades (rows of `UNIFIED_SCHEMA`) exactly once per trade id."""

    def __init__(self, storage: Storage, *, compression: str = "zstd") -> None:
        """Write into `storage`; one writer id per process, named in commit records."""
        self.storage = storage
        self.compression = compression
        self.writer_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.logger = logging.getLogger("target_s3_parquet.unified")
        self._heads: dict[tuple[str, str], ChainHead] = {}

    # ---------------------------------------------------------------- commit chain
    def _record_key(self, exchange: str, symbol: str, seq: int) -> str:
        return f"{COMMITS_PREFIX}/{_partition(exchange, symbol)}/{seq:012d}.json"

    def _read_record(self, exchange: str, symbol: str, seq: int) -> ChainHead | None:
        key = self._record_key(exchange, symbol, seq)
        data = self.storage.get(key)
        if data is None:
            return None
        try:
            record = json.loads(data)
            committed = [(int(lo), int(hi)) for lo, hi in record["committed"]]
            return ChainHead(seq, committed, list(record["files"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise CommitConflictError(
                f"commit record {self.storage.uri(key)} is unreadable ({exc}); it was written "
                f"atomically, so it has been edited by hand: restore it before running again"
            ) from exc

    def head(self, exchange: str, symbol: str) -> ChainHead:
        """The newest commit record, found by probing forward from the cached one."""
        cached = self._heads.get((exchange, symbol))
        if cached is None:
            cached = self._find_head(exchange, symbol)
        while True:
            newer = self._read_record(exchange, symbol, cached.seq + 1)
            if newer is None:
                break
            cached = newer
        self._heads[(exchange, symbol)] = cached
        return cached

    def _find_head(self, exchange: str, symbol: str) -> ChainHead:
        # Seqs have no gaps, so an exponential then binary search finds the newest record in
        # O(log n) reads instead of listing a chain that grows by one record per commit.
        if not self.storage.exists(self._record_key(exchange, symbol, 1)):
            return ChainHead()
        low, high = 1, 2
        while self.storage.exists(self._record_key(exchange, symbol, high)):
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            if self.storage.exists(self._record_key(exchange, symbol, middle)):
                low = middle
            else:
                high = middle
        found = self._read_record(exchange, symbol, low)
        if found is None:
            raise CommitConflictError(
                f"commit record {self._record_key(exchange, symbol, low)} vanished while read"
            )
        return found

    def _roll_forward(self, head: ChainHead) -> None:
        """Publish every file of a committed record whose writer may have died before it did."""
        if head.published:
            return
        for entry in head.files:
            self.storage.publish(entry["staged"], entry["final"])
        head.published = True

    # ---------------------------------------------------------------- commit
    def commit(
        self, exchange: str, symbol: str, table: pa.Table, *, complete: bool = False
    ) -> CommitResult:
        """Write the trades of `table` (one exchange and symbol) not yet in the table.

        `complete`: the table holds every trade of the symbol between its first and last id
        (a tap partition's records, nothing set aside). On exchanges with sparse ids the
        commit then records the span it covers instead of one range per run of ids.
        """
        partition = _partition(exchange, symbol)
        ids = integer_ids(table, exchange, symbol)
        candidates = ranges.first_row_of_each_id(ids)  # one row per distinct id
        while True:
            head = self.head(exchange, symbol)
            fresh = candidates[~ranges.contains(head.committed, ids[candidates])]
            skipped = table.num_rows - fresh.size
            if fresh.size == 0:
                return CommitResult(exchange, symbol, 0, skipped, ())
            # Ascending already: `candidates` are in id order (np.sort would cost ~55 ms per
            # 1M ids even so: numpy's default sort does not detect sorted input).
            fresh_ids = ids[fresh]
            added = ranges.added_ranges(exchange, fresh_ids, head.committed, complete=complete)
            everything_in_order = fresh.size == table.num_rows and bool(
                np.all(fresh == np.arange(fresh.size))
            )
            rows = table if everything_in_order else table.take(pa.array(fresh))
            files = self._stage(partition, rows, ids[fresh])
            self._roll_forward(head)
            committed = ranges.merge(head.committed, added)
            written = [{k: v for k, v in f.items() if k != "data"} for f in files]
            record = {
                "format": RECORD_FORMAT,
                "table": UNIFIED_TABLE,
                "exchange": exchange,
                "symbol": symbol,
                "seq": head.seq + 1,
                "created_at": datetime.now(UTC).isoformat(),
                "writer": self.writer_id,
                "rows": int(fresh.size),
                "added": added,
                "committed": committed,
                "files": written,
            }
            key = self._record_key(exchange, symbol, head.seq + 1)
            # True also when a retried PUT finds this very record (its first answer was lost):
            # the random file names make every attempt's record unique, so equal bytes = ours.
            if self.storage.put(key, json.dumps(record).encode(), if_absent=True):
                break
            self.logger.info(
                "Another writer committed %s %s seq %d first; re-filtering against it.",
                exchange,
                symbol,
                head.seq + 1,
            )
            for staged in files:
                self.storage.delete(staged["staged"])
        for entry in files:
            self.storage.publish(entry["staged"], entry["final"], entry["data"])
        for entry in files:
            self.storage.delete(entry["staged"])
        self._heads[(exchange, symbol)] = ChainHead(
            head.seq + 1, committed, written, published=True
        )
        return CommitResult(
            exchange, symbol, int(fresh.size), skipped, tuple(f["final"] for f in files)
        )

    def commit_parts(self, exchange: str, symbol: str, parts: Sequence[Part]) -> CommitResult:
        """Commit each part in turn (a Hive commit is one small record: no need to group)."""
        results = [self.commit(exchange, symbol, p.rows, complete=p.complete) for p in parts]
        return CommitResult(
            exchange,
            symbol,
            sum(r.rows_written for r in results),
            sum(r.rows_already_committed for r in results),
            tuple(path for r in results for path in r.files),
        )

    def _stage(self, partition: str, rows: pa.Table, ids: np.ndarray) -> list[dict[str, Any]]:
        """Write one Parquet file per date under staging; returns their descriptors."""
        dates = partition_dates(rows.column("trade_ts"))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        files: list[dict[str, Any]] = []
        staged_at = time.time()
        days = pc.unique(dates).to_pylist()
        for day in days:
            if len(days) == 1:
                day_rows, day_ids = rows, ids
            else:
                mask = pc.equal(dates, pa.scalar(day, dates.type))
                day_rows = rows.filter(mask)
                day_ids = ids[np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)]
            ordered = in_time_then_id_order(day_rows, day_ids)
            name = f"{stamp}-{uuid.uuid4().hex[:16]}.parquet"
            relative = f"{partition}/date={day.isoformat()}/{name}"
            data = self._encode(ordered)
            staged = f"{STAGING_PREFIX}/{relative}"
            self.storage.put(staged, data)
            files.append(
                {
                    "staged": staged,
                    "final": f"{UNIFIED_PREFIX}/{relative}",
                    "date": day.isoformat(),
                    "rows": ordered.num_rows,
                    "data": data,
                }
            )
        if time.time() - staged_at > STAGING_GRACE_SECONDS / 2:
            # Stalled for so long that a sweep may treat these as orphans: stage afresh.
            for entry in files:
                self.storage.delete(entry["staged"])
            return self._stage(partition, rows, ids)
        return files

    def _encode(self, rows: pa.Table) -> bytes:
        buffer = io.BytesIO()
        pq.write_table(
            rows.select(FILE_SCHEMA.names).cast(FILE_SCHEMA),
            buffer,
            compression=self.compression,
            row_group_size=ROW_GROUP_ROWS,
            use_dictionary=_DICTIONARY_COLUMNS,
        )
        return buffer.getvalue()

    # ---------------------------------------------------------------- recovery
    def sweep_staging(self, now: float | None = None) -> None:
        """Finish commits of crashed writers and remove their uncommitted staged files.

        Staged files of a committed record are published (rolled forward); files whose final
        copy exists are removed; other staged files are removed once older than the grace
        period (younger ones may belong to a writer running right now).
        """
        now = time.time() if now is None else now
        staged = self.storage.list(f"{STAGING_PREFIX}/")
        pairs = {_exchange_symbol(obj.key) for obj in staged}
        for exchange, symbol in sorted(p for p in pairs if p is not None):
            self._roll_forward(self.head(exchange, symbol))
        for obj in staged:
            final = UNIFIED_PREFIX + obj.key[len(STAGING_PREFIX) :]
            if self.storage.exists(final) or obj.modified_at < now - STAGING_GRACE_SECONDS:
                self.storage.delete(obj.key)
        sweep_temp = getattr(self.storage, "sweep_temp_files", None)
        if sweep_temp is not None:
            for prefix in (UNIFIED_PREFIX, STAGING_PREFIX, COMMITS_PREFIX):
                sweep_temp(prefix, now - STAGING_GRACE_SECONDS)


def _exchange_symbol(key: str) -> tuple[str, str] | None:
    parts = partition_values(key)
    if "exchange" in parts and "symbol" in parts:
        return parts["exchange"], parts["symbol"]
    return None


def integer_ids(table: pa.Table, exchange: str, symbol: str) -> np.ndarray:
    """The trade ids of `table` as int64 (ranges of committed ids are compared as integers)."""
    try:
        ids = pc.cast(table.column("trade_id"), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise StorageError(
            f"{exchange} {symbol}: trade_id values must be integers for exactly-once dedup "
            f"(ranges of committed ids are compared as integers): {exc}"
        ) from exc
    return np.asarray(ids.to_numpy(), dtype=np.int64)


def in_time_then_id_order(rows: pa.Table, ids: np.ndarray) -> pa.Table:
    """Rows sorted by trade_ts, then id; taps emit them in that order already, so check first."""
    trade_ts = rows.column("trade_ts")
    micros = np.asarray(pc.cast(trade_ts, pa.int64()).to_numpy(), dtype=np.int64)
    time_steps, id_steps = np.diff(micros), np.diff(ids)
    if np.all((time_steps > 0) | ((time_steps == 0) & (id_steps > 0))):
        return rows
    keyed = pa.table({"trade_ts": trade_ts, "id": ids})
    order = pc.sort_indices(keyed, sort_keys=[("trade_ts", "ascending"), ("id", "ascending")])
    return rows.take(order)
