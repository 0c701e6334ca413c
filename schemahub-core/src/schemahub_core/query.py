"""`schemahub query "SQL"`: DuckDB over the unified table, exposed as the view `trades_unified`.

`connect()` is the one seam every reader uses (query, check, report). The table is either
- Iceberg (the target's default): pyiceberg plans the scan of the current (or an `--as-of`)
  snapshot and DuckDB reads exactly those data files with its own Parquet reader. Given the
  one SQL statement to run (`run_query`), the plan applies the part of its WHERE that
  `sql_filter` can read, and the view is one ``read_parquet`` over the planned files;
  otherwise every file is planned and the view has one ``read_parquet`` per partition
  stating the partition's exchange, symbol, date and trade_ts day as constants, which
  DuckDB's optimizer prunes (`iceberg.register_data_file_view`). On S3 the files become a
  pyarrow dataset whose fragments carry the same partition expressions; or
- Hive-partitioned Parquet under ``<output_uri>/unified/trades_unified/``, a pyarrow dataset.
Either way a ``WHERE symbol = ... AND date = ...`` opens only the matching files, and within
them DuckDB skips row groups by their statistics. `date` (UTC date of trade_ts) is a column
of both. DuckDB's ``httpfs`` and ``iceberg`` extensions are deliberately not used: they are
downloaded on first use, which fails offline.

Which format (``--table-format auto``): Iceberg when a catalog is configured
(``--iceberg-catalog``) or a local output holds the default ``catalog.db``; Hive otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from schemahub_core import iceberg as catalogs
from schemahub_core import sql_filter, views
from schemahub_core.paths import parse_output_uri
from schemahub_core.schema import (
    FILE_SCHEMA,
    PARTITION_DATE_TYPE,
    PARTITION_KEYS,
    UNIFIED_SCHEMA,
    UNIFIED_TABLE,
)

DEFAULT_OUTPUT_URI = "./output"
UNIFIED_PREFIX = f"unified/{UNIFIED_TABLE}"


TABLE_FORMATS = ("auto", "iceberg", "hive")


class UnifiedTableNotFoundError(RuntimeError):
    """The output location holds no unified table (nothing ingested there yet, or a wrong URI)."""


class CatalogUnavailableError(OSError):
    """The Iceberg catalog could not be opened or read (unreachable, locked, misconfigured)."""


class NoResultError(ValueError):
    """The SQL gives no result set: it is empty, only a comment, or not a query."""


def _partition_schema() -> pa.Schema:
    """Return the types of the hive partition keys as they appear in the paths."""
    types = {f.name: f.type for f in UNIFIED_SCHEMA} | {"date": PARTITION_DATE_TYPE}
    return pa.schema([(key, types[key]) for key in PARTITION_KEYS])


def reader_schema() -> pa.Schema:
    """Return the schema a reader sees: the file columns plus exchange, symbol and date."""
    # Declared up front (not inferred from whichever file is listed first) so that every
    # query sees the same types whatever the files hold. Nullable, since that is how
    # Parquet writers store them and a dataset refuses to cast nullable to non-null.
    fields = [f.with_nullable(True) for f in FILE_SCHEMA]
    return pa.schema(fields + list(_partition_schema()))


def _s3_filesystem(endpoint_url: str | None, region: str | None) -> pafs.S3FileSystem:
    """Return an S3 filesystem using the standard AWS credential chain."""
    options: dict[str, Any] = {}
    endpoint = (
        endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        parsed = urlparse(endpoint)
        if parsed.scheme and parsed.netloc:
            options["endpoint_override"] = parsed.netloc
            options["scheme"] = parsed.scheme
        else:
            options["endpoint_override"] = endpoint
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    return pafs.S3FileSystem(**options)


def output_root(
    output_uri: str, *, s3_endpoint_url: str | None = None, aws_region: str | None = None
) -> tuple[pafs.FileSystem, str]:
    """Resolve ``output_uri`` (a folder or ``s3://bucket/prefix``) to a filesystem and its root."""
    if output_uri.startswith("s3://"):
        return _s3_filesystem(s3_endpoint_url, aws_region), output_uri[len("s3://") :].strip("/")
    return pafs.LocalFileSystem(), os.path.abspath(output_uri)


@dataclass(frozen=True)
class UnifiedLocation:
    """Where the unified table lives: a pyarrow filesystem and the table's root path on it."""

    filesystem: pafs.FileSystem
    path: str
    uri: str


def locate_unified_table(
    output_uri: str, *, s3_endpoint_url: str | None = None, aws_region: str | None = None
) -> UnifiedLocation:
    """Resolve ``output_uri`` (a folder or ``s3://bucket/prefix``) to the unified table's root.

    Parsed by `schemahub_core.paths.parse_output_uri`, as the target parses its output_uri.
    """
    location = parse_output_uri(output_uri)
    path = location.path_of(UNIFIED_PREFIX)
    if location.is_s3:
        filesystem: pafs.FileSystem = _s3_filesystem(s3_endpoint_url, aws_region)
        return UnifiedLocation(filesystem=filesystem, path=path, uri=f"s3://{path}")
    return UnifiedLocation(filesystem=pafs.LocalFileSystem(), path=path, uri=path)


def resolve_table_format(
    output_uri: str, table_format: str = "auto", iceberg_catalog: dict[str, Any] | None = None
) -> str:
    """``iceberg`` or ``hive``: the given one, or the one found under ``output_uri`` (auto)."""
    if table_format != "auto":
        return table_format
    if iceberg_catalog:
        return "iceberg"
    local_catalog = not output_uri.startswith("s3://") and os.path.exists(
        catalogs.default_catalog_path(output_uri)
    )
    return "iceberg" if local_catalog else "hive"


def open_iceberg_table(
    output_uri: str,
    iceberg_catalog: dict[str, Any] | None = None,
    *,
    s3_endpoint_url: str | None = None,
    aws_region: str | None = None,
) -> Any:
    """Load the Iceberg ``schemahub.trades_unified`` of ``output_uri`` (pyiceberg Table)."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    properties = catalogs.catalog_properties(
        output_uri, iceberg_catalog, s3_endpoint_url=s3_endpoint_url, aws_region=aws_region
    )
    where = catalogs.describe(properties)
    try:
        return catalogs.load_catalog(properties).load_table(catalogs.UNIFIED_IDENTIFIER)
    except (NoSuchTableError, NoSuchNamespaceError) as exc:
        raise UnifiedTableNotFoundError(
            f"no table {'.'.join(catalogs.UNIFIED_IDENTIFIER)} in the {where}: nothing has been"
            f" ingested into {output_uri!r} yet, or the catalog or output URI is wrong"
        ) from exc
    except Exception as exc:  # every catalog backend raises its own types
        raise CatalogUnavailableError(
            f"cannot read the {where}: {type(exc).__name__}: {exc}"
        ) from exc


def _iceberg_schema_with_date() -> pa.Schema:
    return pa.schema(
        [f.with_nullable(True) for f in UNIFIED_SCHEMA] + [("date", PARTITION_DATE_TYPE)]
    )


def _s3_or_local(uri: str, s3_endpoint_url: str | None, aws_region: str | None) -> pafs.FileSystem:
    if uri.startswith("s3://"):
        return _s3_filesystem(s3_endpoint_url, aws_region)
    return pafs.LocalFileSystem()


def open_unified_dataset(
    output_uri: str,
    *,
    s3_endpoint_url: str | None = None,
    aws_region: str | None = None,
    table_format: str = "auto",
    iceberg_catalog: dict[str, Any] | None = None,
    as_of: str | None = None,
) -> ds.Dataset:
    """Open ``trades_unified`` under ``output_uri`` as a pyarrow dataset (columns + ``date``).

    ``as_of`` (Iceberg only): a snapshot id or an ISO time. Raises UnifiedTableNotFoundError
    when the location holds no unified table yet. `connect` reads local Iceberg files with
    DuckDB's own Parquet reader instead.
    """
    if resolve_table_format(output_uri, table_format, iceberg_catalog) == "iceberg":
        table = open_iceberg_table(
            output_uri, iceberg_catalog, s3_endpoint_url=s3_endpoint_url, aws_region=aws_region
        )
        snapshot_id = catalogs.snapshot_as_of(table, as_of) if as_of else None
        filesystem = _s3_or_local(table.location(), s3_endpoint_url, aws_region)
        tasks = catalogs.plan_data_files(table, snapshot_id)
        return catalogs.data_file_dataset(table, tasks, filesystem, _iceberg_schema_with_date())
    if as_of:
        raise ValueError("--as-of needs an Iceberg table; a Hive-layout table has no snapshots")
    return _hive_dataset(output_uri, s3_endpoint_url=s3_endpoint_url, aws_region=aws_region)


def _hive_dataset(
    output_uri: str, *, s3_endpoint_url: str | None, aws_region: str | None
) -> ds.Dataset:
    """The Hive-layout table under ``output_uri`` as a pyarrow dataset (columns + ``date``)."""
    location = locate_unified_table(
        output_uri, s3_endpoint_url=s3_endpoint_url, aws_region=aws_region
    )
    info = location.filesystem.get_file_info(location.path)
    if info.type != pafs.FileType.Directory:
        raise UnifiedTableNotFoundError(
            f"no unified table at {location.uri}: nothing has been ingested into"
            f" {output_uri!r} yet (run `meltano run ingest-all`), or the output URI is wrong"
        )
    # Files starting with "." or "_" (local temporaries, markers) are ignored by default.
    # segment_encoding="uri" decodes the %XX of schemahub_core.paths.encode_segment, so each
    # exchange and symbol reads back exactly as the tap sent it.
    return ds.dataset(
        location.path,
        filesystem=location.filesystem,
        format="parquet",
        schema=reader_schema(),
        partitioning=ds.HivePartitioning(_partition_schema(), segment_encoding="uri"),
    )


def _register_unified(
    connection: duckdb.DuckDBPyConnection,
    output_uri: str,
    *,
    s3_endpoint_url: str | None,
    aws_region: str | None,
    table_format: str,
    iceberg_catalog: dict[str, Any] | None,
    as_of: str | None,
    sql: str | None,
) -> None:
    """Create ``trades_unified`` on ``connection``: DuckDB's own reader where it can read.

    Iceberg: pyiceberg plans the snapshot and local files become a view of ``read_parquet``
    calls (`iceberg.register_data_file_view`); S3 files, which DuckDB cannot read offline,
    a pyarrow dataset. When ``sql`` (the only statement the connection will run) has a
    WHERE pyiceberg can read (`sql_filter`), the plan applies it and the view is one
    ``read_parquet`` over the planned files; else every file of the snapshot is planned and
    DuckDB prunes partitions itself, a ``read_parquet`` per partition. Hive: a pyarrow
    dataset over the partition folders.
    """
    if resolve_table_format(output_uri, table_format, iceberg_catalog) != "iceberg":
        if as_of:
            raise ValueError("--as-of needs an Iceberg table; a Hive-layout table has no snapshots")
        hive = _hive_dataset(output_uri, s3_endpoint_url=s3_endpoint_url, aws_region=aws_region)
        connection.register(UNIFIED_TABLE, hive)
        return
    table = open_iceberg_table(
        output_uri, iceberg_catalog, s3_endpoint_url=s3_endpoint_url, aws_region=aws_region
    )
    snapshot_id = catalogs.snapshot_as_of(table, as_of) if as_of else None
    row_filter = sql_filter.row_filter_of(sql) if sql else None
    tasks = catalogs.plan_data_files(table, snapshot_id, row_filter)
    if catalogs.duckdb_can_read(table, tasks):
        schema = table.scan(snapshot_id=snapshot_id).projection()
        catalogs.register_data_file_view(
            connection, UNIFIED_TABLE, table, tasks, schema, per_partition=row_filter is None
        )
        return
    filesystem = _s3_or_local(table.location(), s3_endpoint_url, aws_region)
    dataset = catalogs.data_file_dataset(table, tasks, filesystem, _iceberg_schema_with_date())
    connection.register(UNIFIED_TABLE, dataset)


def connect(
    output_uri: str,
    *,
    s3_endpoint_url: str | None = None,
    aws_region: str | None = None,
    table_format: str = "auto",
    iceberg_catalog: dict[str, Any] | None = None,
    as_of: str | None = None,
    candle_interval: str = views.DEFAULT_CANDLE_INTERVAL,
    raw_streams: bool = False,
    sql: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Return an in-memory DuckDB connection with the views ``trades_unified`` and ``candles``.

    ``candle_interval``: the bucket of ``candles`` (a DuckDB INTERVAL). ``raw_streams``: also
    a view ``raw_<stream>`` per raw stream (lists the raw trail: `query` only).
    ``sql`` (Iceberg only): the one statement the connection will run; its WHERE may let
    pyiceberg plan fewer files, so the view holds only the rows that statement can see.
    """
    connection = duckdb.connect(":memory:")
    try:
        # Minute buckets and dates must not depend on the machine's local time zone.
        connection.execute("SET TimeZone = 'UTC'")
        # DuckDB draws a progress bar on the terminal for long scans: noise in check/report.
        connection.execute("SET enable_progress_bar = false")
        _register_unified(
            connection,
            output_uri,
            s3_endpoint_url=s3_endpoint_url,
            aws_region=aws_region,
            table_format=table_format,
            iceberg_catalog=iceberg_catalog,
            as_of=as_of,
            sql=sql,
        )
    except BaseException:
        connection.close()
        raise
    views.register_candles(connection, candle_interval)
    if raw_streams:
        filesystem: pafs.FileSystem = (
            _s3_filesystem(s3_endpoint_url, aws_region)
            if parse_output_uri(output_uri).is_s3
            else pafs.LocalFileSystem()
        )
        views.register_raw_streams(
            connection,
            output_uri,
            filesystem,
            iceberg_catalog=iceberg_catalog,
            use_iceberg=resolve_table_format(output_uri, table_format, iceberg_catalog)
            == "iceberg",
            s3_endpoint_url=s3_endpoint_url,
            aws_region=aws_region,
        )
    return connection


def run_query(sql: str, output_uri: str, **location: Any) -> pa.Table:
    """Run one SQL statement against ``trades_unified``, ``candles`` and the raw streams.

    ``location``: the keyword arguments of `connect` (endpoint, region, format, catalog, as_of,
    candle_interval). Returns the result as Arrow.
    """
    connection = connect(output_uri, raw_streams=True, sql=sql, **location)
    try:
        relation = connection.sql(sql)
        if relation is None:  # DuckDB's answer to "", a lone comment, or a SET/PRAGMA
            raise NoResultError(
                f"the SQL {sql!r} gives no result to show: it is empty, only a comment, or not "
                f'a query. Give one SELECT, e.g. "SELECT count(*) FROM {UNIFIED_TABLE}".'
            )
        return relation.to_arrow_table()
    finally:
        connection.close()


def _cell(value: Any) -> str:
    """Render one value for the text table (None as an empty cell, ISO times)."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def write_result(table: pa.Table, fmt: str, out: IO[str]) -> None:
    """Write a query result as an aligned text table, CSV (with header) or a JSON array."""
    rows = table.to_pylist()
    if fmt == "json":
        json.dump(rows, out, default=_cell, indent=None)
        out.write("\n")
        return
    header = table.column_names
    cells = [[_cell(row[name]) for name in header] for row in rows]
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(cells)
        return
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row_cells in cells:
        line = "  ".join(c.ljust(w) for c, w in zip(row_cells, widths, strict=True))
        out.write(line.rstrip() + "\n")
    out.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")


def add_location_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that say where the unified table lives (shared with `check`)."""
    parser.add_argument(
        "--output-uri",
        default=os.environ.get("SCHEMAHUB_OUTPUT_URI", DEFAULT_OUTPUT_URI),
        help="the target's output_uri: a folder or s3://bucket/prefix"
        " (default: $SCHEMAHUB_OUTPUT_URI or ./output)",
    )
    parser.add_argument(
        "--s3-endpoint-url",
        default=None,
        help="S3-compatible endpoint (default: $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)",
    )
    parser.add_argument(
        "--aws-region", default=None, help="region of the bucket (default: $AWS_REGION)"
    )
    parser.add_argument(
        "--table-format",
        choices=TABLE_FORMATS,
        default=os.environ.get("SCHEMAHUB_TABLE_FORMAT", "auto"),
        help="auto: Iceberg when a catalog is configured or <output-uri>/catalog.db exists,"
        " else Hive (default: $SCHEMAHUB_TABLE_FORMAT or auto)",
    )
    parser.add_argument(
        "--iceberg-catalog",
        type=_catalog_json,
        default=os.environ.get("SCHEMAHUB_ICEBERG_CATALOG") or None,
        help='pyiceberg catalog properties as JSON, e.g. \'{"type": "glue"}\' (default:'
        " $SCHEMAHUB_ICEBERG_CATALOG, else the SQLite catalog <output-uri>/catalog.db)",
    )


def _catalog_json(text: str) -> dict[str, Any]:
    """Parse --iceberg-catalog (a JSON object of pyiceberg catalog properties)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--iceberg-catalog is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--iceberg-catalog must be a JSON object")
    return value


def location_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The `connect` keyword arguments given by the options of `add_location_arguments`."""
    catalog = args.iceberg_catalog
    if isinstance(catalog, str):  # the environment default is not run through `type`
        catalog = _catalog_json(catalog)
    return {
        "s3_endpoint_url": args.s3_endpoint_url,
        "aws_region": args.aws_region,
        "table_format": args.table_format,
        "iceberg_catalog": catalog,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `schemahub query`."""
    parser.description = (
        f"Run SQL with DuckDB over the views {UNIFIED_TABLE} (the unified schema plus the"
        f" partition column `date`, a DATE), {views.CANDLES_VIEW} (exchange, symbol,"
        " bucket_start, open, high, low, close, volume, quote_volume, trades, vwap per"
        " --candle-interval) and raw_<stream> per raw stream (records as received, at least"
        ' once: duplicates possible; quote odd names: "raw_my-stream")."'
    )
    parser.add_argument("sql", help=f'e.g. "SELECT count(*) FROM {UNIFIED_TABLE}"')
    add_location_arguments(parser)
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format"
    )
    parser.add_argument(
        "--as-of",
        default=None,
        metavar="SNAPSHOT_ID|TIME",
        help="Iceberg time travel: read the table as of a snapshot id or an ISO time"
        " (default: the current snapshot; raw_<stream> views always show the current one)",
    )
    parser.add_argument(
        "--candle-interval",
        default=views.DEFAULT_CANDLE_INTERVAL,
        metavar="INTERVAL",
        help="bucket of the candles view, a DuckDB INTERVAL such as '5 minutes' or '1 hour'"
        f" (default: {views.DEFAULT_CANDLE_INTERVAL})",
    )


def run(args: argparse.Namespace) -> int:
    """Run `schemahub query`; exit 0 on success, 2 when the table or the SQL is unusable."""
    try:
        result = run_query(
            args.sql,
            args.output_uri,
            as_of=args.as_of,
            candle_interval=args.candle_interval,
            **location_from_args(args),
        )
    except NoResultError as exc:
        print(f"schemahub query: {exc}", file=sys.stderr)
        return 2
    except (UnifiedTableNotFoundError, ValueError, OSError) as exc:
        print(f"schemahub query: cannot read the unified table: {exc}", file=sys.stderr)
        return 2
    except duckdb.Error as exc:
        print(f"schemahub query: the query failed: {exc}", file=sys.stderr)
        return 2
    write_result(result, args.format, sys.stdout)
    return 0
