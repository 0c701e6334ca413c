"""`schemahub migrate`: rewrite a Hive-layout trades_unified as the Iceberg table, exactly once.

The Hive files lack the exchange and symbol columns (they live in the paths), so every row is
read back with its partition values and appended through the target's own Iceberg writer: the
committed id ranges come out equal to the Hive commit records' (ids are dense runs either way),
and a rerun or an incremental run afterwards appends nothing twice. The Hive files are left
in place; delete `unified/` and `_commits/` once the Iceberg table has been checked.
"""

from __future__ import annotations

import argparse
import sys

import pyarrow as pa
import pyarrow.compute as pc
from schemahub_core.query import (
    UnifiedTableNotFoundError,
    add_location_arguments,
    location_from_args,
    open_unified_dataset,
)
from schemahub_core.schema import UNIFIED_SCHEMA

from target_s3_parquet.iceberg_table import IcebergCommitError, IcebergUnifiedTable

BATCH_ROWS = 1_000_000


def migrate(config: dict, *, compression: str = "zstd") -> dict[tuple[str, str], int]:
    """Append every row of the Hive table under config's output_uri to the Iceberg table."""
    hive = open_unified_dataset(
        config["output_uri"],
        s3_endpoint_url=config.get("s3_endpoint_url"),
        aws_region=config.get("aws_region"),
        table_format="hive",
    )
    table = IcebergUnifiedTable.open(config, compression=compression)
    keys = (
        hive.to_table(columns=["exchange", "symbol"]).group_by(["exchange", "symbol"]).aggregate([])
    )
    written: dict[tuple[str, str], int] = {}
    for exchange, symbol in zip(
        keys.column("exchange").to_pylist(), keys.column("symbol").to_pylist(), strict=True
    ):
        only = (pc.field("exchange") == exchange) & (pc.field("symbol") == symbol)
        for batch in hive.to_batches(filter=only, batch_size=BATCH_ROWS):
            rows = pa.Table.from_batches([batch]).select(UNIFIED_SCHEMA.names).cast(UNIFIED_SCHEMA)
            result = table.commit(exchange, symbol, rows)
            written[(exchange, symbol)] = written.get((exchange, symbol), 0) + result.rows_written
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `schemahub migrate`."""
    parser.description = __doc__.splitlines()[0] if __doc__ else None
    add_location_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run `schemahub migrate`; 0 done, 2 when either table cannot be read or written."""
    location = location_from_args(args)
    config = {
        "output_uri": args.output_uri,
        "s3_endpoint_url": location["s3_endpoint_url"],
        "aws_region": location["aws_region"],
        "iceberg_catalog": location["iceberg_catalog"],
    }
    try:
        written = migrate(config)
    except (UnifiedTableNotFoundError, IcebergCommitError, ValueError, OSError) as exc:
        print(f"schemahub migrate: {exc}", file=sys.stderr)
        return 2
    for (exchange, symbol), rows in sorted(written.items()):
        print(f"{exchange} {symbol}: {rows} row(s) appended to the Iceberg table")
    return 0
