"""What `schemahub compact`, `rebuild` and `expire` share: options, the table, its partitions.

Each command works on the Iceberg `trades_unified` named by the same options as `query`
(`--output-uri`, `--iceberg-catalog`, ...) and refuses a Hive-layout table: only Iceberg can
replace files atomically. A partition is one (exchange, symbol, UTC day of trade_ts).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from schemahub_core import iceberg as catalogs
from schemahub_core.query import (
    CatalogUnavailableError,
    UnifiedTableNotFoundError,
    add_location_arguments,
    location_from_args,
    open_iceberg_table,
    resolve_table_format,
)

from target_s3_parquet.iceberg_table import IcebergCommitError

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

EPOCH = dt.date(1970, 1, 1)
# The summary property naming what made a snapshot; maintenance snapshots carry no ids.
OPERATION_SUMMARY = "schemahub.maintenance"


class MaintenanceError(RuntimeError):
    """A maintenance command cannot run on this table (Hive layout, bad options, ...)."""


@dataclass(frozen=True, order=True)
class Partition:
    """One partition of trades_unified: (exchange, symbol, UTC day of trade_ts)."""

    exchange: str
    symbol: str
    day: dt.date

    def __str__(self) -> str:
        """E.g. ``BINANCE BTCUSDT 2026-01-01``."""
        return f"{self.exchange} {self.symbol} {self.day.isoformat()}"


@dataclass(frozen=True)
class Selection:
    """Which partitions a command touches: each given part narrows them (None: all)."""

    exchange: str | None = None
    symbol: str | None = None
    first_day: dt.date | None = None
    last_day: dt.date | None = None

    def row_filter(self) -> str:
        """A pyiceberg row filter that prunes the scan to the selected partitions."""
        parts = []
        if self.exchange:
            parts.append(f"exchange = {_quoted(self.exchange)}")
        if self.symbol:
            parts.append(f"symbol = {_quoted(self.symbol)}")
        if self.first_day:
            parts.append(f"trade_ts >= '{_midnight(self.first_day)}'")
        if self.last_day:
            parts.append(f"trade_ts < '{_midnight(self.last_day + dt.timedelta(days=1))}'")
        return " AND ".join(parts) or "true"

    def holds(self, partition: Partition) -> bool:
        """Whether `partition` is selected (the scan's filter keeps whole days, so re-check)."""
        return (
            (self.exchange is None or partition.exchange == self.exchange)
            and (self.symbol is None or partition.symbol == self.symbol)
            and (self.first_day is None or partition.day >= self.first_day)
            and (self.last_day is None or partition.day <= self.last_day)
        )


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _midnight(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00+00:00"


def partition_of(table: Table, data_file: DataFile) -> Partition:
    """The partition a data file belongs to (refusing a spec that is not schemahub's)."""
    spec = table.specs()[data_file.spec_id]
    values = {field.name: data_file.partition[i] for i, field in enumerate(spec.fields)}
    if not {"exchange", "symbol", "trade_ts_day"} <= values.keys():
        raise MaintenanceError(
            f"{data_file.file_path}: partition spec {spec} is not schemahub's (exchange, symbol,"
            f" day(trade_ts)); table maintenance handles only trades_unified as the target made it"
        )
    day = EPOCH + dt.timedelta(days=int(values["trade_ts_day"]))
    return Partition(values["exchange"], values["symbol"], day)


def live_files(table: Table, selection: Selection) -> dict[Partition, list[DataFile]]:
    """The data files of the current snapshot in each selected partition."""
    found: dict[Partition, list[DataFile]] = {}
    if table.current_snapshot() is None:
        return found
    for task in table.scan(row_filter=selection.row_filter()).plan_files():
        if task.delete_files:
            raise MaintenanceError(
                f"{task.file.file_path} has row-level deletes; trades_unified is append-only, "
                f"so something else changed the table. Nothing was changed."
            )
        partition = partition_of(table, task.file)
        if selection.holds(partition):
            found.setdefault(partition, []).append(task.file)
    return found


def replace_files(
    table: Table,
    deleted: Iterable[DataFile],
    added: Iterable[DataFile],
    operation: str,
) -> None:
    """One Iceberg commit that removes `deleted` and adds `added` (no ranges, table untouched).

    The catalog accepts it only if the table is still at the snapshot `table` was read at;
    otherwise pyiceberg raises CommitFailedException (its own retry is off on our table).
    """
    transaction = table.transaction()
    summary = {OPERATION_SUMMARY: operation}
    with transaction.update_snapshot(snapshot_properties=summary).overwrite() as overwrite:
        for data_file in deleted:
            overwrite.delete_data_file(data_file)
        for data_file in added:
            overwrite.append_data_file(data_file)
    transaction.commit_transaction()


def delete_unreferenced(table: Table, files: Iterable[DataFile]) -> None:
    """Remove data files this process wrote but never committed (best effort)."""
    for data_file in files:
        # An orphan at worst: `schemahub expire` removes it after the grace period.
        with contextlib.suppress(OSError):
            table.io.delete(data_file.file_path)


def parse_day(text: str) -> dt.date:
    """An ISO date option (`--from 2026-01-01`)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-31") from None


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every maintenance command: where the table is, --json, --dry-run."""
    add_location_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be done, change nothing"
    )


def add_selection_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """--exchange, --symbol, --from, --to (all required for `rebuild`)."""
    every = " (required)" if required else " (default: all)"
    parser.add_argument("--exchange", required=required, help=f"e.g. BINANCE{every}")
    parser.add_argument("--symbol", required=required, help=f"e.g. BTCUSDT{every}")
    parser.add_argument(
        "--from",
        dest="first_day",
        type=parse_day,
        required=required,
        help=f"first UTC day of trade_ts, e.g. 2026-01-01{every}",
    )
    parser.add_argument(
        "--to",
        dest="last_day",
        type=parse_day,
        required=required,
        help=f"last UTC day of trade_ts, inclusive{every}",
    )


def selection_from_args(args: argparse.Namespace) -> Selection:
    """The partitions named by --exchange/--symbol/--from/--to."""
    if args.first_day and args.last_day and args.first_day > args.last_day:
        raise MaintenanceError(f"--from {args.first_day} is after --to {args.last_day}")
    return Selection(args.exchange, args.symbol, args.first_day, args.last_day)


def target_config(args: argparse.Namespace) -> dict[str, Any]:
    """The target settings the location options stand for (for the target's writer)."""
    location = location_from_args(args)
    return {
        "output_uri": args.output_uri,
        "s3_endpoint_url": location["s3_endpoint_url"],
        "aws_region": location["aws_region"],
        "iceberg_catalog": location["iceberg_catalog"],
    }


def open_table_for(command: str, args: argparse.Namespace) -> Table:
    """The Iceberg trades_unified of the options; a Hive-layout table is refused."""
    location = location_from_args(args)
    table_format = resolve_table_format(
        args.output_uri, location["table_format"], location["iceberg_catalog"]
    )
    if table_format != "iceberg":
        raise MaintenanceError(
            f"{args.output_uri} holds a Hive-layout trades_unified (no catalog configured and "
            f"no catalog.db there): `schemahub {command}` needs an Iceberg table, which can "
            f"replace files atomically. Convert it first with `schemahub migrate`, or pass "
            f"--iceberg-catalog if the table lives in another catalog."
        )
    return open_iceberg_table(
        args.output_uri,
        location["iceberg_catalog"],
        s3_endpoint_url=location["s3_endpoint_url"],
        aws_region=location["aws_region"],
    )


# What each command's run() turns into exit code 2 and one line on stderr.
EXPECTED_ERRORS = (
    MaintenanceError,
    UnifiedTableNotFoundError,
    CatalogUnavailableError,
    IcebergCommitError,
    catalogs.CatalogNotConfiguredError,
    ValueError,
    OSError,
)


@contextlib.contextmanager
def progress_on_stderr() -> Iterator[None]:
    """While a command runs, its progress lines (loggers `schemahub.*`, INFO) go to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    progress = logging.getLogger("schemahub")
    level = progress.level
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    try:
        yield
    finally:
        progress.removeHandler(handler)
        progress.setLevel(level)


def print_report(report: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    """The command's report: JSON, or the given human lines."""
    if as_json:
        json.dump(report, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    for line in lines:
        sys.stdout.write(line + "\n")
