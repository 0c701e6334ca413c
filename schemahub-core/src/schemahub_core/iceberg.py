"""Where the Iceberg `trades_unified` lives: the catalog properties, defined once.

The target (writer) and `schemahub query`/`check`/`tables` (readers) both resolve the catalog
here, so they always agree. Without a configured catalog, a local ``output_uri`` gets a SQL
catalog on SQLite at ``<output_uri>/catalog.db`` with its warehouse under ``<output_uri>``;
an ``s3://`` output needs one configured (Glue, REST, or a SQL database), because a SQLite
file cannot live on S3.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

CATALOG_NAME = "schemahub"
NAMESPACE = "schemahub"
UNIFIED_IDENTIFIER = (NAMESPACE, "trades_unified")
CATALOG_FILE = "catalog.db"


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
    properties unless the configured catalog already sets them.
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
    endpoint = s3_endpoint_url
    for key, value in (
        ("s3.endpoint", endpoint),
        ("s3.region", aws_region),
        ("s3.access-key-id", aws_access_key_id),
        ("s3.secret-access-key", aws_secret_access_key),
        ("s3.session-token", aws_session_token),
        ("glue.region", aws_region if properties.get("type") == "glue" else None),
    ):
        if value and key not in properties:
            properties[key] = value
    return properties


def load_catalog(properties: dict[str, str]) -> Catalog:
    """Open the catalog; the SQLite file of a SQL catalog is created if missing."""
    from pyiceberg.catalog import load_catalog as pyiceberg_load_catalog

    uri = properties.get("uri", "")
    if properties.get("type") == "sql" and uri.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(uri[len("sqlite:///") :]), exist_ok=True)
    return pyiceberg_load_catalog(CATALOG_NAME, **properties)


def describe(properties: dict[str, str]) -> str:
    """A short name of the catalog for error messages, without any secret."""
    kind = properties.get("type", "?")
    where = properties.get("uri") or properties.get("glue.region") or properties.get("warehouse")
    if where:
        where = re.sub(r"//[^/@]*@", "//***@", where)  # a database URI may carry a password
    return f"{kind} catalog {CATALOG_NAME!r}" + (f" at {where}" if where else "")
