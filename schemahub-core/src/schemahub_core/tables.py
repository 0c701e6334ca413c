"""`schemahub tables`: the Iceberg tables of the `schemahub` namespace and their snapshots."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from schemahub_core import iceberg as catalogs
from schemahub_core.query import CatalogUnavailableError, add_location_arguments, location_from_args


def list_tables(output_uri: str, **location: Any) -> list[dict[str, Any]]:
    """One entry per table: current snapshot, snapshot count, data files, rows, bytes."""
    properties = catalogs.catalog_properties(
        output_uri,
        location.get("iceberg_catalog"),
        s3_endpoint_url=location.get("s3_endpoint_url"),
        aws_region=location.get("aws_region"),
    )
    try:
        catalog = catalogs.load_catalog(properties)
        identifiers = catalog.list_tables(catalogs.NAMESPACE)
        tables = [catalog.load_table(identifier) for identifier in identifiers]
    except Exception as exc:  # every catalog backend raises its own types
        raise CatalogUnavailableError(
            f"cannot list the tables of namespace {catalogs.NAMESPACE!r} in the "
            f"{catalogs.describe(properties)}: {type(exc).__name__}: {exc}"
        ) from exc
    entries = []
    for table in tables:
        snapshot = table.current_snapshot()
        summary = snapshot.summary if snapshot is not None else None
        entries.append(
            {
                "table": ".".join(table.name()),
                "current_snapshot_id": snapshot.snapshot_id if snapshot else None,
                "snapshots": len(table.metadata.snapshots),
                "data_files": int((summary and summary["total-data-files"]) or 0),
                "rows": int((summary and summary["total-records"]) or 0),
                "bytes": int((summary and summary["total-files-size"]) or 0),
                "location": table.location(),
            }
        )
    return sorted(entries, key=lambda entry: entry["table"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `schemahub tables`."""
    parser.description = (
        f"List the Iceberg tables of namespace {catalogs.NAMESPACE!r} with their current"
        " snapshot, snapshot count, data files, rows and bytes."
    )
    add_location_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON array")


def run(args: argparse.Namespace) -> int:
    """Run `schemahub tables`; exit 0, or 2 when the catalog cannot be read."""
    try:
        entries = list_tables(args.output_uri, **location_from_args(args))
    except (CatalogUnavailableError, ValueError) as exc:
        print(f"schemahub tables: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(entries, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    header = ["table", "current_snapshot_id", "snapshots", "data_files", "rows", "bytes"]
    cells = [[str(entry[name]) for name in header] for entry in entries]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(header)]
    for row in [header, *cells]:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        sys.stdout.write("\n")
    return 0
