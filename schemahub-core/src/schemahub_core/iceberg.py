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
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

if TYPE_CHECKING:
    import pyarrow.fs as pafs
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

CATALOG_NAME = "schemahub"
NAMESPACE = "schemahub"
UNIFIED_IDENTIFIER = (NAMESPACE, "trades_unified")
# `iceberg_raw_tables`: the table of stream S is `schemahub.raw_S`.
RAW_TABLE_PREFIX = "raw_"
CATALOG_FILE = "catalog.db"
# The FileIO of a local warehouse: files fsynced before the catalog points at them.
DURABLE_FILE_IO = "schemahub_core.iceberg_io.DurableLocalFileIO"


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
    catalog = pyiceberg_load_catalog(CATALOG_NAME, **typed)
    if sqlite:
        _commit_durably(catalog.engine)  # type: ignore[attr-defined]
    return catalog


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


def data_file_dataset(
    table: Table, snapshot_id: int | None, filesystem: pafs.FileSystem, schema: pa.Schema
) -> ds.Dataset:
    """The data files of one snapshot as a pyarrow dataset DuckDB can filter (and prune).

    pyiceberg plans the scan (which files make up the snapshot); each file becomes a fragment
    whose partition expression states its exchange, symbol, date and trade_ts day. A filter
    on any of them (pushed down by DuckDB) skips non-matching files without opening them, and
    `date` is filled from the expression: the Iceberg table has no `date` column.
    """
    parquet = ds.ParquetFileFormat()
    fragments = []
    for task in table.scan(snapshot_id=snapshot_id).plan_files():
        if task.delete_files:
            raise ValueError(
                f"{task.file.file_path} has row-level deletes, which `schemahub query` does not"
                f" apply; trades_unified is append-only, so something else changed the table"
            )
        spec = table.specs()[task.file.spec_id]
        values = {field.name: task.file.partition[i] for i, field in enumerate(spec.fields)}
        if not {"exchange", "symbol", "trade_ts_day"} <= values.keys():
            raise ValueError(
                f"{task.file.file_path}: partition spec {spec} is not schemahub's "
                f"(exchange, symbol, day(trade_ts)); cannot derive `date` for it"
            )
        day = dt.date(1970, 1, 1) + dt.timedelta(days=int(values["trade_ts_day"]))
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        expression = (
            (pc.field("exchange") == values["exchange"])
            & (pc.field("symbol") == values["symbol"])
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
