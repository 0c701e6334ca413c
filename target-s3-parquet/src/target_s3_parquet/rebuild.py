"""`schemahub rebuild`: re-derive partitions of trades_unified from the raw layer, atomically.

For one exchange and symbol over a range of UTC days, the records of every mapped source
stream are read back from the raw layer: the raw Iceberg table `schemahub.raw_<stream>` when
there is one (`iceberg_raw_tables`), else the gzip JSONL trail `raw/<stream>/ingest_date=D/`.
They go through the current mappings (`mappings/*.yaml`, plus `--mappings-dir`), are cut to
the exchange, symbol and days asked for, and deduplicated by trade id (raw is at least once).
One Iceberg commit then deletes every data file of those partitions and adds the new ones;
`query --as-of <previous snapshot>` still reads the old rows until `expire` removes them.

Exactly once: the rebuilt partitions hold exactly the trade ids they held before. Raw records
of ids the partitions never had (a batch whose unified commit crashed and was re-sent) are
dropped; an id the raw layer lacks stops the rebuild before anything changes. The committed
ranges (table properties) are left as they are.

Scan cost: the JSONL trail is partitioned by *ingest* date, not by trade date, and trades of
day D can be ingested on any day from D on (a backfill ingests old days today). So a rebuild
from day D reads every trail file ingested on or after D of every mapped stream that can
produce the exchange, whatever the symbol and however few days are rebuilt; a raw Iceberg
table (unpartitioned) is read whole.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from schemahub_core import iceberg as catalogs
from schemahub_core.mapping import Mapping, load_mappings
from schemahub_core.paths import encode_segment
from schemahub_core.progress import CountProgress
from schemahub_core.schema import UNIFIED_SCHEMA, partition_dates

from target_s3_parquet import maintenance, ranges
from target_s3_parquet.iceberg_table import IcebergCommitError
from target_s3_parquet.maintenance import MaintenanceError, Selection
from target_s3_parquet.storage import Storage, open_storage
from target_s3_parquet.unified import in_time_then_id_order, integer_ids

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

RAW_PREFIX = "raw"
logger = logging.getLogger("schemahub.rebuild")


@dataclass
class RebuildReport:
    """What `schemahub rebuild` did (or would do)."""

    partitions: list[str]
    source: dict[str, str]  # stream -> "raw table" | "<n> JSONL files"
    files_before: int
    files_after: int
    rows: int
    raw_rows_read: int
    raw_duplicates_dropped: int
    uncommitted_ids_dropped: int
    dry_run: bool
    snapshot_before: int | None
    snapshot_after: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (for --json)."""
        return asdict(self)


class RawLayer:
    """The raw records of one source stream, from its raw Iceberg table or its JSONL trail."""

    def __init__(self, storage: Storage, catalog: Any) -> None:
        """`catalog`: the pyiceberg catalog holding `schemahub.raw_<stream>` if enabled."""
        self.storage = storage
        self.catalog = catalog

    def raw_table(self, stream: str) -> Table | None:
        """The raw Iceberg table of `stream`, or None when raw tables are off."""
        try:
            return self.catalog.load_table((catalogs.NAMESPACE, f"raw_{stream}"))
        except NoSuchTableError:
            return None

    def trail_keys(self, stream: str, since: dt.date) -> list[str]:
        """The JSONL trail files of `stream` ingested on or after `since`."""
        prefix = f"{RAW_PREFIX}/{encode_segment(stream, 'stream name')}/"
        keys = []
        for stored in self.storage.list(prefix):
            folder = stored.key[len(prefix) :].split("/", 1)[0]
            day = folder.removeprefix("ingest_date=")
            if stored.key.endswith(".jsonl.gz") and day >= since.isoformat():
                keys.append(stored.key)
        return keys

    def read_trail_file(self, key: str) -> pa.Table:
        """One gzip JSONL file as Arrow, values typed as JSON has them (text stays text)."""
        data = self.storage.get(key)
        if data is None:
            raise MaintenanceError(f"raw trail file {self.storage.uri(key)} vanished while read")

        def read(schema: pa.Schema | None) -> pa.Table:
            options = pajson.ParseOptions(explicit_schema=schema)
            stream = pa.input_stream(pa.py_buffer(data), compression="gzip")
            return pajson.read_json(stream, parse_options=options)

        table = read(None)
        # Arrow guesses dates in strings ("2026-01-01") and all-null fields; the target typed
        # them from the tap's SCHEMA as text, so read them as text again.
        wanted = pa.schema(
            [
                f.with_type(pa.string())
                if pa.types.is_temporal(f.type) or pa.types.is_null(f.type)
                else f
                for f in table.schema
            ]
        )
        return table if wanted.equals(table.schema) else read(wanted)


def _keep(mapped: pa.Table, selection: Selection) -> pa.Table:
    """The mapped rows of the selected exchange, symbol and days."""
    days = partition_dates(mapped.column("trade_ts"))
    mask = pc.and_(
        pc.and_(
            pc.equal(mapped.column("exchange"), selection.exchange),
            pc.equal(mapped.column("symbol"), selection.symbol),
        ),
        pc.and_(
            pc.greater_equal(days, pa.scalar(selection.first_day, pa.date32())),
            pc.less_equal(days, pa.scalar(selection.last_day, pa.date32())),
        ),
    )
    return mapped.filter(mask)


def _may_produce(mapping: Mapping, exchange: str | None) -> bool:
    """False when the mapping sets `exchange` to another constant (Coinbase for BINANCE)."""
    rule = next(r for r in mapping.rules if r.target == "exchange")
    return rule.source is not None or exchange is None or rule.constant == exchange


class Rebuilder:
    """Re-derives the selected partitions from the raw layer and replaces them in one commit."""

    def __init__(self, table: Table, raw: RawLayer, mappings: dict[str, Mapping]) -> None:
        """`mappings`: source stream -> mapping, as the target loads them."""
        self.table = table
        self.raw = raw
        self.mappings = mappings

    def rebuild(self, selection: Selection, *, dry_run: bool = False) -> RebuildReport:
        """Rebuild the selected partitions; raises MaintenanceError when it cannot be exact."""
        base = self.table.current_snapshot()
        old = maintenance.live_files(self.table, selection)
        old_files = [f for files in old.values() for f in files]
        old_ids = self._ids_of(old_files)
        rows, source, read, duplicates = self._derive(selection, dry_run)
        ids = integer_ids(rows, selection.exchange or "", selection.symbol or "")
        committed = np.isin(ids, old_ids)
        missing = np.setdiff1d(old_ids, ids)
        if missing.size:
            raise MaintenanceError(
                f"rebuild {selection.exchange} {selection.symbol} {selection.first_day}.."
                f"{selection.last_day}: the raw layer ({', '.join(source.values()) or 'empty'}) "
                f"lacks {missing.size} of the {old_ids.size} trades these partitions hold "
                f"(e.g. trade_id {missing[0]}); rebuilding would lose them, so nothing was "
                f"changed. Was the trail expired, or did a mapping change trade_id or trade_ts?"
            )
        rows = rows.filter(pa.array(committed))
        order = in_time_then_id_order(rows, ids[committed]).cast(UNIFIED_SCHEMA)
        report = RebuildReport(
            partitions=sorted(str(p) for p in old),
            source=source,
            files_before=len(old_files),
            files_after=0,
            rows=order.num_rows,
            raw_rows_read=read,
            raw_duplicates_dropped=duplicates,
            uncommitted_ids_dropped=int((~committed).sum()),
            dry_run=dry_run,
            snapshot_before=base.snapshot_id if base else None,
        )
        if dry_run or not old_files:
            return report
        written = list(
            _dataframe_to_data_files(table_metadata=self.table.metadata, df=order, io=self.table.io)
        )
        report.files_after = len(written)
        try:
            maintenance.replace_files(self.table, old_files, written, "rebuild")
        except CommitFailedException as exc:
            maintenance.delete_unreferenced(self.table, written)
            raise IcebergCommitError(
                f"rebuild {selection.exchange} {selection.symbol}: another writer committed to "
                f"the table while the partitions were rebuilt; nothing was changed. Rerun "
                f"(rebuild past days, which no ingest writes to, or pause ingest)."
            ) from exc
        snapshot = self.table.refresh().current_snapshot()
        report.snapshot_after = snapshot.snapshot_id if snapshot else None
        return report

    def _ids_of(self, files: list[DataFile]) -> np.ndarray:
        """The distinct trade ids held by `files`."""
        columns = []
        for data_file in files:
            with self.table.io.new_input(data_file.file_path).open() as stream:
                columns.append(pq.read_table(stream, columns=["trade_id"]))
        if not columns:
            return np.empty(0, dtype=np.int64)
        table = pa.concat_tables(columns)
        return np.unique(np.asarray(pc.cast(table.column("trade_id"), pa.int64())))

    def _derive(
        self, selection: Selection, dry_run: bool
    ) -> tuple[pa.Table, dict[str, str], int, int]:
        """Mapped, selected, deduplicated rows from the raw layer; also where they came from."""
        since = selection.first_day or dt.date(1970, 1, 1)
        ingest_ts = dt.datetime.now(dt.UTC)
        parts: list[pa.Table] = []
        source: dict[str, str] = {}
        read = 0
        for stream, mapping in sorted(self.mappings.items()):
            if not _may_produce(mapping, selection.exchange):
                continue
            raw_table = self.raw.raw_table(stream)
            if raw_table is not None:
                source[stream] = "raw Iceberg table"
                batches = [raw_table.scan().to_arrow()]
            else:
                keys = self.raw.trail_keys(stream, since)
                source[stream] = f"{len(keys)} JSONL trail file(s)"
                batches = []
                progress = CountProgress(f"rebuild: {stream} trail files", len(keys), logger)
                for key in keys:
                    batches.append(self.raw.read_trail_file(key))
                    progress.advance(key)
            for batch in batches:
                read += batch.num_rows
                parts.append(_keep(mapping.apply(batch, ingest_ts), selection))
        rows = pa.concat_tables(parts) if parts else UNIFIED_SCHEMA.empty_table()
        ids = integer_ids(rows, selection.exchange or "", selection.symbol or "")
        first = ranges.first_row_of_each_id(ids)
        return rows.take(pa.array(first)), source, read, rows.num_rows - first.size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `schemahub rebuild`."""
    parser.description = (
        "Re-derive partitions of the Iceberg trades_unified from the raw layer through the"
        " current mappings and replace them in one atomic commit (the previous snapshot stays"
        " readable with `query --as-of`). Reads every raw JSONL file ingested on or after"
        " --from, whatever the symbol."
    )
    maintenance.add_common_arguments(parser)
    maintenance.add_selection_arguments(parser, required=True)
    parser.add_argument(
        "--mappings-dir",
        default=None,
        help="folder of mapping YAML files overriding the packaged ones, as the target's"
        " mappings_dir setting (default: the packaged mappings only)",
    )


def run(args: argparse.Namespace) -> int:
    """Run `schemahub rebuild`; 0 done, 2 when it cannot rebuild exactly."""
    try:
        with maintenance.progress_on_stderr():
            selection = maintenance.selection_from_args(args)
            table = maintenance.open_table_for("rebuild", args)
            config = maintenance.target_config(args)
            storage = open_storage(args.output_uri, config)
            raw = RawLayer(storage, table.catalog)
            mappings = load_mappings([args.mappings_dir] if args.mappings_dir else [])
            report = Rebuilder(table, raw, mappings).rebuild(selection, dry_run=args.dry_run)
    except maintenance.EXPECTED_ERRORS as exc:
        print(f"schemahub rebuild: {exc}", file=sys.stderr)
        return 2
    verb = "would replace" if args.dry_run else "replaced"
    lines = [
        f"{', '.join(report.partitions) or 'no partition'}: {verb} {report.files_before} file(s)"
        f" by {report.rows} rows re-derived from {report.raw_rows_read} raw records "
        f"({report.raw_duplicates_dropped} duplicates, {report.uncommitted_ids_dropped} "
        f"never-committed ids dropped)",
        "sources: " + ", ".join(f"{s}: {n}" for s, n in report.source.items()),
    ]
    if report.snapshot_after:
        lines.append(
            f"new snapshot {report.snapshot_after}; the old rows stay readable with "
            f"`schemahub query --as-of {report.snapshot_before}` until expired"
        )
    maintenance.print_report(report.as_dict(), args.json, lines)
    return 0
