"""The table layer: what the pipeline needs from `trades_unified`, and the setting choosing it.

Two implementations sit behind one small interface:
- `iceberg` (default): an Apache Iceberg table in a catalog (`iceberg_table.IcebergUnifiedTable`);
- `hive`: Hive-partitioned Parquet plus a chain of commit records (`unified.UnifiedTableWriter`).
"""

from __future__ import annotations

from typing import Any, Protocol

import pyarrow as pa

from target_s3_parquet.storage import Storage
from target_s3_parquet.unified import CommitResult, UnifiedTableWriter

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

    def sweep_staging(self) -> None:
        """Finish or clean up what crashed writers left behind (run once before committing)."""
        ...


def open_unified_table(config: dict[str, Any], storage: Storage) -> UnifiedTable:
    """The unified table chosen by the target settings `table_format` and `iceberg_catalog`."""
    table_format = config.get("table_format") or DEFAULT_TABLE_FORMAT
    compression = config.get("parquet_compression") or "zstd"
    if table_format == "hive":
        return UnifiedTableWriter(storage, compression=compression)
    if table_format == "iceberg":
        from target_s3_parquet.iceberg_table import IcebergUnifiedTable

        return IcebergUnifiedTable.open(config, compression=compression)
    raise ValueError(
        f"table_format {table_format!r} is not one of {TABLE_FORMATS}: set table_format to "
        f"'iceberg' (an Apache Iceberg table, the default) or 'hive' (Hive-partitioned Parquet)"
    )
