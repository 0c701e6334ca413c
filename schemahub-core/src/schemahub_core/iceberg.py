"""Where the Iceberg `trades_unified` lives: the catalog properties, defined once.

The target (writer) and `schemahub query`/`check`/`tables` (readers) both resolve the catalog
here, so they always agree. Without a configured catalog, a local ``output_uri`` gets a SQL
catalog on SQLite at ``<output_uri>/catalog.db`` with its warehouse under ``<output_uri>``;
an ``s3://`` output needs one configured (Glue, REST, or a SQL database), because a SQLite
file cannot live on S3.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

if TYPE_CHECKING:
    import duckdb
    import pyarrow.fs as pafs
    from pyiceberg.catalog import Catalog
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.schema import Schema
    from pyiceberg.table import FileScanTask, Table

CATALOG_NAME = "schemahub"
NAMESPACE = "schemahub"
UNIFIED_IDENTIFIER = (NAMESPACE, "trades_unified")
# `iceberg_raw_tables`: the table of stream S is `schemahub.raw_S`.
RAW_TABLE_PREFIX = "raw_"
CATALOG_FILE = "catalog.db"
# Set by pyiceberg's add_files: data files may lack Iceberg field ids (matched by name).
NAME_MAPPING_PROPERTY = "schema.name-mapping.default"
# Above this many partitions in a plan, `register_data_file_view` groups by symbol instead.
MAX_PARTITION_BRANCHES = 1_000
# The UTC day of trade_ts (after 1970) by arithmetic: ~10x cheaper than DuckDB's ICU casts.
UTC_DATE_OF_TRADE_TS = "DATE '1970-01-01' + CAST(epoch_us(trade_ts) // 86400000000 AS INTEGER)"
# The FileIO of a local warehouse: files fsynced before the catalog points at them.
DURABLE_FILE_IO = "schemahub_core.iceberg_io.DurableLocalFileIO"
# How many times `create_racing` runs a step another writer may be racing (3: 0.6 s of waits).
CREATE_ATTEMPTS = 3

T = TypeVar("T")


class CatalogNotConfiguredError(ValueError):
    """An s3:// output has no Iceberg catalog configured."""


def default_catalog_path(output_uri: str) -> str:
    """The SQLite file of the default catalog of a local ``output_uri``."""
    return os.path.join(os.path.abspath(output_uri), CATALOG_FILE)


def catalog_properties(
    output_uri: str,
    configured: dict[str, Any] | None = None,
    *,
    s3_endpoint_url: str | None = None,
    aws_region: str | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
) -> dict[str, str]:
    """The pyiceberg catalog properties for ``output_uri`` (the configured ones, or the default).

    S3 settings the caller knows (endpoint, region, keys) are added as pyiceberg FileIO
    properties unless the configured catalog already sets them. A local warehouse gets
    `DURABLE_FILE_IO` (`iceberg_io`) unless the catalog names its own FileIO (`py-io-impl`).
    """
    properties = {key: str(value) for key, value in (configured or {}).items()}
    if not properties:
        if output_uri.startswith("s3://"):
            raise CatalogNotConfiguredError(
                f"output_uri {output_uri} is on S3 but no iceberg_catalog is configured: a "
                f"SQLite catalog cannot live on S3. Set iceberg_catalog to a Glue catalog "
                f'({{"type": "glue"}}), a REST catalog ({{"type": "rest", "uri": ...}}) or a '
                f'SQL database ({{"type": "sql", "uri": "postgresql+psycopg2://..."}}), or set '
                f"table_format: hive for Hive-partitioned Parquet without a catalog."
            )
        root = os.path.abspath(output_uri)
        properties = {
            "type": "sql",
            "uri": f"sqlite:///{os.path.join(root, CATALOG_FILE)}",
            "warehouse": f"file://{root}",
        }
    if "warehouse" not in properties:
        properties["warehouse"] = (
            output_uri.rstrip("/")
            if output_uri.startswith("s3://")
            else f"file://{os.path.abspath(output_uri)}"
        )
    warehouse = properties["warehouse"]
    if warehouse.startswith("file://") or "://" not in warehouse:
        properties.setdefault("py-io-impl", DURABLE_FILE_IO)  # a configured FileIO is kept
    endpoint = s3_endpoint_url
    for key, value in (
        ("s3.endpoint", endpoint),
        ("s3.region", aws_region),
        ("s3.access-key-id", aws_access_key_id),
        ("s3.secret-access-key", aws_secret_access_key),
        ("s3.session-token", aws_session_token),
    ):
        if value and key not in properties:
            properties[key] = value
    glue = properties.get("type") == "glue"  # its client takes the same region and keys
    for key, value in (
        ("glue.region", aws_region),
        ("glue.access-key-id", aws_access_key_id),
        ("glue.secret-access-key", aws_secret_access_key),
        ("glue.session-token", aws_session_token),
    ):
        if glue and value and key not in properties:
            properties[key] = value
    return properties


def table_location(properties: dict[str, str], identifier: tuple[str, str]) -> str:
    """Where a table's files live: ``<warehouse>/<namespace>/<table>``, whatever the catalog."""
    return "/".join([properties["warehouse"].rstrip("/"), *identifier])


def load_catalog(properties: dict[str, str]) -> Catalog:
    """Open the catalog; the SQLite file of a SQL catalog is created if missing."""
    from pyiceberg.catalog import load_catalog as pyiceberg_load_catalog

    uri = properties.get("uri", "")
    sqlite = properties.get("type") == "sql" and uri.startswith("sqlite:///")
    if sqlite:
        os.makedirs(os.path.dirname(uri[len("sqlite:///") :]), exist_ok=True)
    typed: dict[str, Any] = dict(properties)
    if "glue.max-retries" in typed:  # pyiceberg hands it to botocore as is: must be an int
        typed["glue.max-retries"] = int(typed["glue.max-retries"])
    # A new SQL catalog creates its own tables, check then CREATE: writers opening it at once race.
    catalog = create_racing(lambda: pyiceberg_load_catalog(CATALOG_NAME, **typed))
    if sqlite:
        _commit_durably(catalog.engine)  # type: ignore[attr-defined]
    return catalog


def create_racing(create: Callable[[], T]) -> T:
    """Run a catalog's check-then-create step, again if another process won the race.

    Opening a new SQL catalog, creating the namespace or a table: pyiceberg's SQL catalog
    checks, then inserts. When another writer (a shard started at the same moment) inserts in
    between, the insert fails ("already exists", a UNIQUE constraint); run again, the step
    finds what the other one created. Any other failure is raised at once. (Glue and REST
    report such a race as pyiceberg's AlreadyExists errors, which its `*_if_not_exists`
    handle themselves.)
    """
    for attempt in range(1, CREATE_ATTEMPTS):
        try:
            return create()
        except Exception as exc:
            if not _lost_a_creation_race(exc):
                raise
        time.sleep(0.2 * attempt)
    return create()


def _lost_a_creation_race(exc: Exception) -> bool:
    from sqlalchemy.exc import IntegrityError, OperationalError

    return isinstance(exc, IntegrityError) or (
        isinstance(exc, OperationalError) and "already exists" in str(exc)
    )


def _commit_durably(engine: Any) -> None:
    """SQLite `synchronous=EXTRA` on every connection of the catalog's engine.

    The default (rollback journal, synchronous=FULL) commits by unlinking the journal without
    syncing its folder: a power loss right after may bring the journal back and roll back a
    commit whose STATE was already emitted. EXTRA syncs the folder too (one fsync per commit).
    """
    from sqlalchemy import event

    def on_connect(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA synchronous=EXTRA")
        cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # the connections pyiceberg opened to create its tables: reopened with it


def describe(properties: dict[str, str]) -> str:
    """A short name of the catalog for error messages, without any secret."""
    kind = properties.get("type", "?")
    where = properties.get("uri") or properties.get("glue.region") or properties.get("warehouse")
    if where:
        where = re.sub(r"//[^/@]*@", "//***@", where)  # a database URI may carry a password
    return f"{kind} catalog {CATALOG_NAME!r}" + (f" at {where}" if where else "")


def plan_data_files(
    table: Table, snapshot_id: int | None, row_filter: BooleanExpression | None = None
) -> list[FileScanTask]:
    """The data files of one snapshot that may hold rows matching ``row_filter``.

    pyiceberg prunes with the partition values and the files' column bounds. Raises
    ValueError for a file with row-level deletes: trades_unified is append-only.
    """
    from pyiceberg.expressions import AlwaysTrue

    scan = table.scan(row_filter=row_filter or AlwaysTrue(), snapshot_id=snapshot_id)
    tasks = list(scan.plan_files())
    for task in tasks:
        if task.delete_files:
            raise ValueError(
                f"{task.file.file_path} has row-level deletes, which `schemahub query` does not"
                f" apply; trades_unified is append-only, so something else changed the table"
            )
    return tasks


def _partition_of(table: Table, task: FileScanTask) -> tuple[str, str, dt.date]:
    """A data file's (exchange, symbol, UTC day of trade_ts), from its partition values."""
    spec = table.specs()[task.file.spec_id]
    values = {field.name: task.file.partition[i] for i, field in enumerate(spec.fields)}
    if not {"exchange", "symbol", "trade_ts_day"} <= values.keys():
        raise ValueError(
            f"{task.file.file_path}: partition spec {spec} is not schemahub's "
            f"(exchange, symbol, day(trade_ts)); cannot derive `date` for it"
        )
    day = dt.date(1970, 1, 1) + dt.timedelta(days=int(values["trade_ts_day"]))
    return values["exchange"], values["symbol"], day


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def data_file_dataset(
    table: Table, tasks: list[FileScanTask], filesystem: pafs.FileSystem, schema: pa.Schema
) -> ds.Dataset:
    """Planned data files as a pyarrow dataset DuckDB can filter (and prune): the S3 path.

    Each file becomes a fragment whose partition expression states its exchange, symbol,
    date and trade_ts day. A filter on any of them (pushed down by DuckDB) skips
    non-matching files without opening them, and `date` is filled from the expression: the
    Iceberg table has no `date` column.
    """
    parquet = ds.ParquetFileFormat()
    fragments = []
    for task in tasks:
        exchange, symbol, day = _partition_of(table, task)
        start = _day_start(day)
        expression = (
            (pc.field("exchange") == exchange)
            & (pc.field("symbol") == symbol)
            & (pc.field("date") == pa.scalar(day, pa.date32()))
            & (pc.field("trade_ts") >= pa.scalar(start, pa.timestamp("us", tz="UTC")))
            & (
                pc.field("trade_ts")
                < pa.scalar(start + dt.timedelta(days=1), pa.timestamp("us", tz="UTC"))
            )
        )
        fragments.append(
            parquet.make_fragment(
                filesystem_path(task.file.file_path),
                filesystem=filesystem,
                partition_expression=expression,
            )
        )
    return ds.FileSystemDataset(fragments, schema=schema, format=parquet, filesystem=filesystem)


def duckdb_can_read(table: Table, tasks: list[FileScanTask]) -> bool:
    """Whether `register_data_file_view` can serve these files (else `data_file_dataset`).

    DuckDB reads local files itself; S3 (or any other store) needs its httpfs extension,
    which is downloaded on first use (offline: unavailable). Files are matched to columns
    by Iceberg field id, so a table whose files may lack ids (a name mapping is set, e.g. by
    `add_files`) is left to pyarrow, which matches by name.
    """
    if NAME_MAPPING_PROPERTY in table.properties:
        return False
    return all(task.file.file_path.startswith(("file://", "/")) for task in tasks)


def register_data_file_view(
    connection: duckdb.DuckDBPyConnection,
    name: str,
    table: Table,
    tasks: list[FileScanTask],
    schema: Schema,
    *,
    per_partition: bool = True,
) -> None:
    """Create the view `name` over planned local data files, read by DuckDB's Parquet reader.

    ``per_partition=False`` (the plan already applied the query's filter): one
    ``read_parquet`` over every file, `date` computed per row.

    One ``read_parquet`` per partition (exchange, symbol, day) under UNION ALL, each stating
    its partition as constants: ``exchange`` and ``symbol`` as literals, ``date`` (not a
    column of the table) as the partition's DATE, and ``trade_ts`` bounded to the day. A
    query filter on any of them that contradicts a branch's constants makes DuckDB's
    optimizer drop the branch before any of its files is opened; within a branch DuckDB
    skips row groups by their min/max statistics. Columns are bound by Iceberg field id
    with an explicit schema, so no file is opened to bind the view. Past
    `MAX_PARTITION_BRANCHES` partitions (a DuckDB plan costs ~1 ms a branch), one branch per
    (exchange, symbol) instead, bounded to its first and last day, `date` computed per row.
    """
    arrow_schema = schema.as_arrow()
    if not tasks:  # nothing planned: an empty relation of the right shape
        empty = arrow_schema.append(pa.field("date", pa.date32())).empty_table()
        connection.register(name, empty)
        return
    types = connection.from_arrow(arrow_schema.empty_table()).dtypes
    columns = ", ".join(
        f"{field.field_id}: {{name: {_literal(field.name)}, type: {_literal(str(kind))},"
        f" default_value: NULL}}"
        for field, kind in zip(schema.fields, types, strict=True)
    )
    # Newest day first: DuckDB reads files in list order, and a query for the latest trades
    # (ORDER BY trade_ts DESC LIMIT n) then skips the older row groups by their statistics.
    partitioned = sorted(
        ((_partition_of(table, task), filesystem_path(task.file.file_path)) for task in tasks),
        key=lambda item: (-item[0][2].toordinal(), item[0][:2], item[1]),
    )
    groups: dict[tuple[str, str, dt.date], list[str]] = {}
    for partition, path in partitioned:
        groups.setdefault(partition, []).append(path)
    # (exchange and symbol, or None when the branch holds several; files; first, last day)
    branches: list[tuple[tuple[str, str] | None, list[str], dt.date, dt.date]]
    if not per_partition:
        every = [path for paths in groups.values() for path in paths]
        days = [day for _, _, day in groups]
        branches = [(None, every, min(days), max(days))]
    elif len(groups) > MAX_PARTITION_BRANCHES:
        coarse: dict[tuple[str, str], tuple[list[str], dt.date, dt.date]] = {}
        for (exchange, symbol, day), paths in groups.items():
            known, first, last = coarse.get((exchange, symbol), ([], day, day))
            coarse[(exchange, symbol)] = (known + paths, min(first, day), max(last, day))
        branches = [(key, paths, first, last) for key, (paths, first, last) in coarse.items()]
    else:
        branches = [((e, s), paths, day, day) for (e, s, day), paths in groups.items()]
    selects = []
    for key, files, first, last in branches:
        date = f"DATE '{first.isoformat()}'" if first == last else UTC_DATE_OF_TRADE_TS
        start, end = _day_start(first), _day_start(last + dt.timedelta(days=1))
        constants = (
            f" REPLACE ({_literal(key[0])} AS exchange, {_literal(key[1])} AS symbol)"
            if key
            else ""
        )
        selects.append(
            f"SELECT *{constants}, {date} AS date"
            f" FROM read_parquet([{', '.join(_literal(f) for f in files)}],"
            # Columns come from the files only, never from `name=value` folders of the path.
            f" hive_partitioning = false"
            # Branches bind by field id without opening a file, so a pruned branch opens
            # none. One branch over pyiceberg's plan binds by name: DuckDB then keeps its
            # top-N and late-materialisation shortcuts (10x on `ORDER BY ... LIMIT`).
            + (f", schema = MAP {{{columns}}})" if key else ")")
            + (
                f" WHERE trade_ts >= TIMESTAMPTZ '{start.isoformat()}'"
                f" AND trade_ts < TIMESTAMPTZ '{end.isoformat()}'"
                if key  # bounds for DuckDB to prune the branch by; pyiceberg pruned the rest
                else ""
            )
        )
    connection.execute(f'CREATE VIEW "{name}" AS ' + "\nUNION ALL ".join(selects))


def _literal(text: str) -> str:
    """`text` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def filesystem_path(file_path: str) -> str:
    """A data file's path for a pyarrow filesystem: without `file://` or `s3://`."""
    if file_path.startswith("file://"):
        return file_path.removeprefix("file://")
    return file_path.removeprefix("s3://")


def plain_file_dataset(table: Table, filesystem: pafs.FileSystem) -> ds.Dataset:
    """The data files of an unpartitioned table's current snapshot (the raw tables)."""
    files = [filesystem_path(task.file.file_path) for task in table.scan().plan_files()]
    schema = table.schema().as_arrow()
    return ds.dataset(files, schema=schema, format="parquet", filesystem=filesystem)


def snapshot_as_of(table: Table, as_of: str) -> int:
    """The snapshot id named by `as_of`: a snapshot id, or the snapshot current at a time."""
    name = ".".join(table.name())
    if as_of.isdigit() and table.snapshot_by_id(int(as_of)) is not None:
        return int(as_of)
    try:
        moment = dt.datetime.fromisoformat(as_of)
    except ValueError:
        raise ValueError(
            f"--as-of {as_of!r} is neither a snapshot id of {name} nor an ISO time"
            f" (e.g. 2026-05-01T12:00:00Z); list snapshots with `schemahub tables`"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    snapshot = table.snapshot_as_of_timestamp(int(moment.timestamp() * 1000))
    if snapshot is None:
        raise ValueError(f"{name} had no snapshot yet at {moment.isoformat()}")
    return snapshot.snapshot_id
