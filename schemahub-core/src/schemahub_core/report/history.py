"""What the ingest did and what it stored, read from the output location's files, not the table.

``ingest_history`` is the one place that knows where commits are recorded: for an Iceberg table
its snapshots (the target's appends carry ``schemahub.added-ids`` = ``<exchange>/<symbol>=<ranges>``
in their summary, with pyiceberg's ``added-records`` and ``added-data-files``; maintenance
snapshots carry none and are left out), for the Hive layout its commit records
(``<output_uri>/_commits/trades_unified/exchange=E/symbol=S/<seq>.json``, one per commit).
``storage_usage`` lists every file under the output location.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.fs as pafs

from schemahub_core.iceberg import NAMESPACE as ICEBERG_NAMESPACE
from schemahub_core.query import open_iceberg_table, output_root, resolve_table_format
from schemahub_core.schema import UNIFIED_TABLE

COMMITS_PREFIX = f"_commits/{UNIFIED_TABLE}"
ADDED_SUMMARY = "schemahub.added-ids"  # target_s3_parquet.iceberg_table writes it
INGEST_HISTORY_SCHEMA = pa.schema(
    [
        ("committed_at", pa.timestamp("us", tz="UTC")),
        ("exchange", pa.string()),
        ("symbol", pa.string()),
        ("seq", pa.int64()),
        ("rows", pa.int64()),
        ("files", pa.int64()),
    ]
)
STORAGE_SCHEMA = pa.schema(
    [
        ("area", pa.string()),  # first folder under the output location: raw, unified, ...
        ("exchange", pa.string()),
        ("symbol", pa.string()),
        ("date", pa.string()),
        ("files", pa.int64()),
        ("bytes", pa.int64()),
    ]
)
_PARALLEL_READS = 16  # commit records are small: on S3 the round trips dominate
_PARTITION_VALUE = re.compile(r"^(exchange|symbol|date|ingest_date|trade_ts_day)=(.*)$")


def _list_files(filesystem: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    selector = pafs.FileSelector(path, recursive=True, allow_not_found=True)
    return [info for info in filesystem.get_file_info(selector) if info.is_file]


def ingest_history(
    output_uri: str,
    *,
    s3_endpoint_url: str | None = None,
    aws_region: str | None = None,
    table_format: str = "auto",
    iceberg_catalog: dict[str, Any] | None = None,
) -> pa.Table:
    """One row per commit into trades_unified: when, which symbol, how many rows and files."""
    if resolve_table_format(output_uri, table_format, iceberg_catalog) == "iceberg":
        table = open_iceberg_table(
            output_uri, iceberg_catalog, s3_endpoint_url=s3_endpoint_url, aws_region=aws_region
        )
        return _snapshot_history(table)
    filesystem, root = output_root(
        output_uri, s3_endpoint_url=s3_endpoint_url, aws_region=aws_region
    )
    records = [
        info.path
        for info in _list_files(filesystem, f"{root}/{COMMITS_PREFIX}")
        if info.path.endswith(".json")
    ]

    def read(path: str) -> dict[str, object]:
        with filesystem.open_input_stream(path) as stream:
            record = json.loads(stream.read())
        return {
            "committed_at": record["created_at"],
            "exchange": record["exchange"],
            "symbol": record["symbol"],
            "seq": record["seq"],
            "rows": record["rows"],
            "files": len(record["files"]),
        }

    with ThreadPoolExecutor(_PARALLEL_READS) as pool:
        rows = list(pool.map(read, records))
    # ISO strings with offsets: let Arrow parse them into UTC timestamps.
    committed_at = pa.array([r["committed_at"] for r in rows], pa.string())
    columns = {
        "committed_at": committed_at.cast(pa.timestamp("us", tz="UTC")),
        **{name: [r[name] for r in rows] for name in INGEST_HISTORY_SCHEMA.names[1:]},
    }
    return pa.table(columns, schema=INGEST_HISTORY_SCHEMA).sort_by("committed_at")


def _snapshot_history(table: Any) -> pa.Table:
    """The target's appends among the Iceberg table's snapshots, in INGEST_HISTORY_SCHEMA."""
    rows = []
    seqs: dict[tuple[str, str], int] = {}  # numbered per symbol, like the Hive commit chain
    for snapshot in sorted(table.metadata.snapshots, key=lambda s: s.sequence_number):
        summary = snapshot.summary
        added = summary.get(ADDED_SUMMARY) if summary is not None else None
        if not added:
            continue  # compaction, expiry, migration: not an ingest commit
        key = added.rpartition("=")[0]  # ranges never hold "=", a symbol may
        exchange, _, symbol = key.partition("/")
        seqs[(exchange, symbol)] = seqs.get((exchange, symbol), 0) + 1
        rows.append(
            {
                "committed_at": dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, dt.UTC),
                "exchange": exchange,
                "symbol": symbol,
                "seq": seqs[(exchange, symbol)],
                "rows": int(summary.get("added-records", 0)),
                "files": int(summary.get("added-data-files", 0)),
            }
        )
    columns = {name: [r[name] for r in rows] for name in INGEST_HISTORY_SCHEMA.names}
    return pa.table(columns, schema=INGEST_HISTORY_SCHEMA).sort_by("committed_at")


def _area(parts: list[str]) -> str:
    """The area of a file: its first folder, or for an Iceberg table's files what they hold."""
    if len(parts) < 2:
        return ""  # a file at the root (catalog.db)
    if parts[0] == ICEBERG_NAMESPACE and len(parts) > 3:  # <namespace>/<table>/data|metadata/
        table, kind = parts[1], parts[2]
        if table == UNIFIED_TABLE:
            return "unified" if kind == "data" else "unified metadata"
        return "raw" if kind == "data" else "raw metadata"  # iceberg_raw_tables: raw_<stream>
    return parts[0]


def storage_usage(
    output_uri: str, *, s3_endpoint_url: str | None = None, aws_region: str | None = None
) -> pa.Table:
    """Files and bytes under the output location per area and partition (exchange, symbol, day)."""
    filesystem, root = output_root(
        output_uri, s3_endpoint_url=s3_endpoint_url, aws_region=aws_region
    )
    totals: dict[tuple[str, str, str, str], list[int]] = {}
    for info in _list_files(filesystem, root):  # one entry per file, never per trade
        parts = info.path[len(root) :].strip("/").split("/")
        keys = {"exchange": "", "symbol": "", "date": ""}
        for part in parts[1:-1]:
            match = _PARTITION_VALUE.match(part)
            if match:
                name = "date" if match.group(1).endswith(("date", "day")) else match.group(1)
                keys[name] = unquote(match.group(2))
        key = (_area(parts), keys["exchange"], keys["symbol"], keys["date"])
        entry = totals.setdefault(key, [0, 0])
        entry[0] += 1
        entry[1] += info.size or 0
    names = STORAGE_SCHEMA.names
    return pa.table(
        {
            **{name: [key[i] for key in totals] for i, name in enumerate(names[:4])},
            "files": [v[0] for v in totals.values()],
            "bytes": [v[1] for v in totals.values()],
        },
        schema=STORAGE_SCHEMA,
    )
