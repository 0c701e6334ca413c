"""The views `schemahub query` adds beside `trades_unified`: `candles` and `raw_<stream>`.

- `candles`: OHLCV per exchange, symbol and time bucket, computed from `trades_unified` when
  queried (a view, so a filter on exchange, symbol or bucket_start reaches the table scan).
- `raw_<stream>`: each raw stream as received, at least once (a rerun after a crash may have
  stored a batch twice, so duplicates are possible). Read from the Iceberg table
  `schemahub.raw_<stream>` when the target wrote one (`iceberg_raw_tables`), else from the
  gzip JSONL audit trail `<output_uri>/raw/<stream>/ingest_date=*/` together with the BATCH
  files the target kept under `<output_uri>/raw_batches/<stream>/ingest_date=*/` (gzip JSONL or
  Parquet, as the tap wrote them), with `ingest_date` as a DATE column. The parts are unioned
  by column name: a batch file has no `_sdc_` columns, so they are NULL on its rows.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from schemahub_core import iceberg as catalogs
from schemahub_core.paths import decode_segment, parse_output_uri
from schemahub_core.schema import UNIFIED_TABLE

CANDLES_VIEW = "candles"
DEFAULT_CANDLE_INTERVAL = "1 minute"
RAW_VIEW_PREFIX = "raw_"
_INGEST_DATE = ds.partitioning(pa.schema([("ingest_date", pa.date32())]), flavor="hive")


def quote_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier (any stream name becomes a valid view name)."""
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_candle_interval(connection: duckdb.DuckDBPyConnection, interval: str) -> None:
    """Raise ValueError unless `interval` is a positive DuckDB INTERVAL (e.g. `5 minutes`)."""
    try:
        row = connection.execute(
            "SELECT CAST(? AS INTERVAL) > INTERVAL 0 SECONDS", [interval]
        ).fetchone()
    except duckdb.Error as exc:
        raise ValueError(
            f"--candle-interval {interval!r} is not a DuckDB INTERVAL: {exc}. "
            f"Give e.g. '1 minute', '15 minutes', '1 hour' or '1 day'."
        ) from None
    if not row or not row[0]:
        raise ValueError(f"--candle-interval {interval!r} must be longer than zero")


def register_candles(connection: duckdb.DuckDBPyConnection, interval: str) -> None:
    """Create the view `candles`: OHLCV, trades and VWAP per exchange, symbol and bucket.

    open/close are the prices of the first/last trade of the bucket by (trade_ts, trade_id);
    buckets are `time_bucket` of trade_ts in UTC; buckets without trades have no row.
    """
    check_candle_interval(connection, interval)
    bucket = f"CAST({_quote_literal(interval)} AS INTERVAL)"
    connection.execute(
        f"""
        CREATE VIEW {CANDLES_VIEW} AS
        SELECT exchange, symbol, time_bucket({bucket}, trade_ts) AS bucket_start,
            arg_min(price, (trade_ts, trade_id)) AS open,
            max(price) AS high,
            min(price) AS low,
            arg_max(price, (trade_ts, trade_id)) AS close,
            sum(quantity) AS volume,
            sum(price * quantity) AS quote_volume,
            count(*) AS trades,
            sum(price * quantity) / sum(quantity) AS vwap
        FROM {UNIFIED_TABLE}
        GROUP BY exchange, symbol, bucket_start
        """
    )


def _iceberg_raw_datasets(
    output_uri: str,
    iceberg_catalog: dict[str, Any] | None,
    filesystem: pafs.FileSystem,
    **s3: str | None,
) -> dict[str, ds.Dataset]:
    """The Iceberg `schemahub.raw_<stream>` tables of the catalog, by stream name."""
    properties = catalogs.catalog_properties(output_uri, iceberg_catalog, **s3)
    catalog = catalogs.load_catalog(properties)
    if (catalogs.NAMESPACE,) not in catalog.list_namespaces():
        return {}
    found = {}
    for identifier in catalog.list_tables(catalogs.NAMESPACE):
        name = identifier[-1]
        if name.startswith(RAW_VIEW_PREFIX):
            table = catalog.load_table(identifier)
            found[name[len(RAW_VIEW_PREFIX) :]] = catalogs.plain_file_dataset(table, filesystem)
    return found


def _stream_folders(filesystem: pafs.FileSystem, root: str) -> dict[str, str]:
    """The `<root>/<stream>/` folders, by (decoded) stream name."""
    selector = pafs.FileSelector(root, allow_not_found=True)
    return {
        decode_segment(info.base_name): info.path
        for info in filesystem.get_file_info(selector)
        if info.type == pafs.FileType.Directory
    }


def _jsonl_raw_datasets(
    filesystem: pafs.FileSystem, output_uri: str
) -> dict[str, list[ds.Dataset]]:
    """The gzip JSONL audit trail of each stream under `<output_uri>/raw/`, by stream name."""
    # pyarrow infers the columns from the stream's first file: the SCHEMA of its tap.
    return {
        stream: [ds.dataset(path, filesystem=filesystem, format="json", partitioning=_INGEST_DATE)]
        for stream, path in _stream_folders(
            filesystem, parse_output_uri(output_uri).path_of("raw")
        ).items()
    }


def _batch_raw_datasets(
    filesystem: pafs.FileSystem, output_uri: str
) -> dict[str, list[ds.Dataset]]:
    """The BATCH files kept under `<output_uri>/raw_batches/<stream>/`, by stream name.

    One dataset of a stream's JSONL files (gzip when named `.gz`, as singer-sdk names them)
    and one of its Parquet files, for those it has.
    """
    root = parse_output_uri(output_uri).path_of("raw_batches")
    found: dict[str, list[ds.Dataset]] = {}
    for stream, path in _stream_folders(filesystem, root).items():
        selector = pafs.FileSelector(path, recursive=True)
        files = [i.path for i in filesystem.get_file_info(selector) if i.type == pafs.FileType.File]
        by_format = {
            "parquet": [f for f in files if f.endswith(".parquet")],
            "json": [f for f in files if not f.endswith(".parquet")],
        }
        found[stream] = [
            ds.dataset(
                paths,
                filesystem=filesystem,
                format=file_format,
                partitioning=_INGEST_DATE,
                partition_base_dir=path,
            )
            for file_format, paths in by_format.items()
            if paths
        ]
    return found


def register_raw_streams(
    connection: duckdb.DuckDBPyConnection,
    output_uri: str,
    filesystem: pafs.FileSystem,
    *,
    iceberg_catalog: dict[str, Any] | None = None,
    use_iceberg: bool = False,
    **s3: str | None,
) -> list[str]:
    """Register a view `raw_<stream>` per raw stream of `output_uri`; return the view names.

    Iceberg raw tables (when `use_iceberg` and the catalog has them) win over the files of
    the same stream: the target appends BATCH rows to them too. A stream whose records are in
    more than one kind of file (JSONL trail, JSONL or Parquet batch files) gets a view that
    unions them by column name over one hidden relation `_raw_<stream>_<n>` per kind.
    `s3`: `s3_endpoint_url` and `aws_region` for the catalog's FileIO.
    """
    parts = _jsonl_raw_datasets(filesystem, output_uri)
    for stream, datasets in _batch_raw_datasets(filesystem, output_uri).items():
        parts[stream] = parts.get(stream, []) + datasets
    if use_iceberg:
        iceberg = _iceberg_raw_datasets(output_uri, iceberg_catalog, filesystem, **s3)
        parts |= {stream: [dataset] for stream, dataset in iceberg.items()}
    names = []
    for stream, datasets in sorted(parts.items()):
        name = RAW_VIEW_PREFIX + stream
        if len(datasets) == 1:
            connection.register(name, datasets[0])
        else:
            hidden = [f"_{name}_{n}" for n in range(len(datasets))]
            for part, dataset in zip(hidden, datasets, strict=True):
                connection.register(part, dataset)
            union = " UNION ALL BY NAME ".join(
                f"SELECT * FROM {quote_identifier(p)}" for p in hidden
            )
            connection.execute(f"CREATE VIEW {quote_identifier(name)} AS {union}")
        names.append(name)
    return names
