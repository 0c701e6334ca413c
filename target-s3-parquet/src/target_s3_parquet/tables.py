"""The table layer: what the pipeline needs from `trades_unified`, and the setting choosing it.

Two implementations sit behind one small interface:
- `iceberg` (default): an Apache Iceberg table in a catalog (`iceberg_table.IcebergUnifiedTable`);
- `hive`: Hive-partitioned Parquet plus a chain of commit records (`unified.UnifiedTableWriter`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Protocol

import pyarrow as pa
from schemahub_core import iceberg as catalogs

from target_s3_parquet.storage import Storage
from target_s3_parquet.unified import CommitResult, Part, UnifiedTableWriter

TABLE_FORMATS = ["iceberg", "hive"]
DEFAULT_TABLE_FORMAT = "iceberg"


class UnifiedTable(Protocol):
    """`trades_unified` as the pipeline writes it: exactly once per (exchange, symbol, id)."""

    def commit(
        self, exchange: str, symbol: str, table: pa.Table, *, complete: bool = False
    ) -> CommitResult:
        """Append the trades of `table` (one exchange and symbol) not yet in the table.

        `complete`: `table` holds every trade of the symbol between its first and last id, so
        sparse-id exchanges may record the span it covers (see `ranges.spans`).
        """
        ...

    def commit_parts(self, exchange: str, symbol: str, parts: Sequence[Part]) -> CommitResult:
        """Append the trades of `parts` not yet in the table, as one commit if it pays.

        `parts`: one exchange and symbol, in input order (staging.py).
        """
        ...

    def sweep_staging(self) -> None:
        """Finish or clean up what crashed writers left behind (run once before committing)."""
        ...


def open_unified_table(
    config: dict[str, Any], storage: Storage, *, in_background: bool = False
) -> UnifiedTable:
    """The unified table chosen by the target settings `table_format` and `iceberg_catalog`.

    `in_background`: the table is opened and swept on a thread of its own
    (`OpenedInBackground`) while the target reads the first batch. The settings are checked
    now either way.
    """
    table_format = config.get("table_format") or DEFAULT_TABLE_FORMAT
    compression = config.get("parquet_compression") or "zstd"
    if table_format == "hive":
        hive = UnifiedTableWriter(storage, compression=compression)
        return OpenedInBackground(lambda: hive) if in_background else hive
    if table_format == "iceberg":
        # Refused now (not on the opening thread): an s3:// output without a catalog.
        catalogs.catalog_properties(
            config.get("output_uri") or "./output", config.get("iceberg_catalog")
        )

        def open_iceberg() -> UnifiedTable:
            from target_s3_parquet.iceberg_table import IcebergUnifiedTable

            return IcebergUnifiedTable.open(config, compression=compression)

        return OpenedInBackground(open_iceberg) if in_background else open_iceberg()
    raise ValueError(
        f"table_format {table_format!r} is not one of {TABLE_FORMATS}: set table_format to "
        f"'iceberg' (an Apache Iceberg table, the default) or 'hive' (Hive-partitioned Parquet)"
    )


class OpenedInBackground:
    """A unified table opened and swept on a thread of its own; commits wait for it.

    Opening an Iceberg table costs ~0.7-1 CPU-s (importing pyiceberg and SQLAlchemy, then
    loading the catalog and the table), sweeping a Hive table lists its staging area: the
    target starts both at start-up, so they overlap with reading, parsing and mapping the
    first batch. A failure (e.g. `IcebergCommitError` naming the table and the catalog) is
    raised by the first commit or `sweep_staging` call, which the target makes before it
    relays any STATE.
    """

    def __init__(self, opener: Callable[[], UnifiedTable]) -> None:
        """Start `opener` on a daemon thread (it never holds up the exit of a failed run)."""
        self._opened: Future[UnifiedTable] = Future()
        threading.Thread(target=self._open, args=(opener,), name="open-table", daemon=True).start()

    def _open(self, opener: Callable[[], UnifiedTable]) -> None:
        try:
            table = opener()
            table.sweep_staging()
            self._opened.set_result(table)
        except BaseException as exc:  # raised by `opened`, on the thread calling it
            self._opened.set_exception(exc)

    def opened(self) -> UnifiedTable:
        """The table, once opened (raises what opening it raised)."""
        return self._opened.result()

    def commit(
        self, exchange: str, symbol: str, table: pa.Table, *, complete: bool = False
    ) -> CommitResult:
        """`UnifiedTable.commit` of the opened table."""
        return self.opened().commit(exchange, symbol, table, complete=complete)

    def commit_parts(self, exchange: str, symbol: str, parts: Sequence[Part]) -> CommitResult:
        """`UnifiedTable.commit_parts` of the opened table."""
        return self.opened().commit_parts(exchange, symbol, parts)

    def sweep_staging(self) -> None:
        """Wait until the table is opened and swept (done once, in the background)."""
        self.opened()
