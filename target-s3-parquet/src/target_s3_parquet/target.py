"""target-s3-parquet: the singer-sdk Target, its settings, commit cadence and STATE relay.

How it hooks into singer-sdk (kept to documented extension points where they exist):
- `message_reader_class`-style reader (`BatchedSingerReader`) replaces per-record decoding;
  SCHEMA/STATE/... still go through the SDK's callbacks, so sinks, schema changes and the
  SDK's exceptions behave as in any SDK target.
- `_process_state_message` keeps the latest STATE aside (instead of the SDK's
  `_latest_state`, which `drain_all` would print without our commit) and `commit()` relays it
  with the SDK's `_write_state_message` right after the data it covers is committed.
- `process_endofpipe` commits what is left; `_handle_termination` exits without committing.
"""

from __future__ import annotations

import sys
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from schemahub_core.log_redaction import protect_secrets, secret_settings
from schemahub_core.mapping import Mapping, load_mappings
from singer_sdk import typing as th
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.target_base import Target

from target_s3_parquet.pipeline import commit_stream
from target_s3_parquet.reader import BatchedSingerReader
from target_s3_parquet.record_lines import Envelope
from target_s3_parquet.sinks import PendingRecords, StreamSink
from target_s3_parquet.storage import open_storage
from target_s3_parquet.tables import DEFAULT_TABLE_FORMAT, TABLE_FORMATS, open_unified_table
from target_s3_parquet.worker import CommitWorker

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.helpers.capabilities import CapabilitiesEnum

# Larger than the SDK's 10k default: per-commit costs (a commit record, small files, fsyncs)
# amortise over more rows, while memory stays ~50 MB per batch in flight (measured fastest here).
DEFAULT_BATCH_SIZE_ROWS = 50_000
COMPRESSIONS = ["zstd", "snappy", "gzip", "lz4", "brotli", "none"]


class TargetS3Parquet(Target):
    """Raw JSONL.gz audit trail + exactly-once `trades_unified` Parquet, local or on S3."""

    name = "target-s3-parquet"
    default_sink_class = StreamSink

    # Stream maps and flattening transform records one by one in Python, which would undo
    # the columnar path; mapping to trades_unified is done by schemahub-core mappings.
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STRUCTURED_LOGGING,
        TargetCapabilities.VALIDATE_RECORDS,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "output_uri",
            th.StringType,
            default="./output",
            description="Where to write: a local folder, or s3://bucket/prefix.",
        ),
        th.Property(
            "s3_endpoint_url",
            th.StringType,
            description="Endpoint of an S3-compatible store (MinIO, moto, ...); unset for AWS S3.",
        ),
        th.Property("aws_region", th.StringType, description="AWS region of the bucket."),
        th.Property(
            "aws_access_key_id",
            th.StringType,
            secret=True,
            description="AWS access key id; unset to use the standard AWS credential chain.",
        ),
        th.Property(
            "aws_secret_access_key",
            th.StringType,
            secret=True,
            description="AWS secret access key; unset to use the standard credential chain.",
        ),
        th.Property(
            "aws_session_token",
            th.StringType,
            secret=True,
            description="AWS session token for temporary credentials.",
        ),
        th.Property(
            "mappings_dir",
            th.StringType,
            description="Folder of extra mapping YAML files (one per source stream); they "
            "override the packaged coinbase_trades and binance_trades mappings.",
        ),
        th.Property(
            "max_batch_age_seconds",
            th.NumberType,
            default=60,
            description="Commit (and relay STATE) at least this often while records arrive, "
            "even if batch_size_rows is not reached.",
        ),
        th.Property(
            "parquet_compression",
            th.StringType,
            default="zstd",
            allowed_values=COMPRESSIONS,
            description="Compression codec of the unified Parquet files.",
        ),
        th.Property(
            "table_format",
            th.StringType,
            default=DEFAULT_TABLE_FORMAT,
            allowed_values=TABLE_FORMATS,
            description="'iceberg': trades_unified is an Apache Iceberg table in iceberg_catalog. "
            "'hive': Hive-partitioned Parquet under unified/ with its own commit records.",
        ),
        th.Property(
            "iceberg_raw_tables",
            th.BooleanType,
            default=False,
            description="Also append each mapped source stream's records, as sent, to an "
            "Iceberg table schemahub.raw_<stream> (at least once, like the raw JSONL trail).",
        ),
        th.Property(
            "iceberg_catalog",
            th.ObjectType(additional_properties=True),
            description='pyiceberg catalog properties, e.g. {"type": "glue"}. Default for '
            "a local output_uri: a SQLite catalog at <output_uri>/catalog.db; required for s3://.",
        ),
        th.Property(
            "on_invalid_record",
            th.StringType,
            default="fail",
            allowed_values=["fail", "quarantine"],
            description="'fail': stop with an error naming the stream, line and problem. "
            "'quarantine': write bad records with the reason to rejects/<stream>/ and go on.",
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up storage, mappings and the unified writer; finish crashed commits."""
        kwargs.setdefault("message_reader", BatchedSingerReader(self))
        super().__init__(*args, **kwargs)
        protect_secrets(secret_settings(self.config, self.config_jsonschema))
        self.storage = open_storage(self.config.get("output_uri") or "./output", self.config)
        self.unified = open_unified_table(dict(self.config), self.storage)
        self.raw_tables = None
        if self.config.get("iceberg_raw_tables"):
            from target_s3_parquet.iceberg_raw import IcebergRawTables  # pyiceberg: only if used

            self.raw_tables = IcebergRawTables(dict(self.config))
        extra = [self.config["mappings_dir"]] if self.config.get("mappings_dir") else []
        self._mappings: dict[str, Mapping] = load_mappings(extra)
        self._unmapped_logged: set[str] = set()
        self.batch_size_rows = int(self.config.get("batch_size_rows") or DEFAULT_BATCH_SIZE_ROWS)
        self._max_age = float(self.config.get("max_batch_age_seconds") or 60)
        self.queued_records = 0
        self._batch_started = 0.0
        self._batch_received_at = datetime.now(UTC)
        self._pending_state: dict | None = None
        self._relayed_state: dict | None = None
        self._swept = False
        self._worker = CommitWorker()
        # Builds each batch's raw file while the commit thread parses and maps the batch.
        self._side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-file")

    # ------------------------------------------------------------------ streams
    def mapping_for(self, stream: str) -> Mapping | None:
        """The mapping of `stream` to trades_unified, or None (logged once) for raw only."""
        mapping = self._mappings.get(stream)
        if mapping is None and stream not in self._unmapped_logged:
            self._unmapped_logged.add(stream)
            self.logger.info(
                "Stream %r has no mapping to trades_unified: its records go to the raw layer "
                "only (mappings exist for %s).",
                stream,
                sorted(self._mappings),
            )
        return mapping

    def sink_named(self, stream: str) -> StreamSink | None:
        """The active sink of `stream` (None before its SCHEMA)."""
        return t.cast("StreamSink | None", self._sinks_active.get(stream))

    def sink_for_records(self, envelope: Envelope, line: int) -> StreamSink:
        """The sink queuing records of the envelope's stream (its SCHEMA must have come)."""
        stream = envelope.stream
        if stream is None:
            raise InvalidInputLine(f"input line {line}: RECORD message has no 'stream' key")
        sink = self._sinks_active.get(stream)
        if sink is None:
            raise RecordsWithoutSchemaException(
                f"input line {line}: a RECORD for stream '{stream}' was encountered before a "
                f"corresponding SCHEMA message. Check that the tap emits SCHEMA first."
            )
        return t.cast("StreamSink", sink)

    # ------------------------------------------------------------------ cadence
    def start_batch(self) -> None:
        """The first record of a new batch was queued: start its age clock."""
        self._batch_started = time.monotonic()
        self._batch_received_at = datetime.now(UTC)

    def count_queued_record(self) -> None:
        """One record was queued on a sink (the reader does the same inline)."""
        if self.queued_records == 0:
            self.start_batch()
        self.queued_records += 1

    def seconds_until_stale(self, now: float) -> float | None:
        """Seconds until the queued records reach max_batch_age_seconds (None: none queued)."""
        if self.queued_records == 0:
            return None
        return max(0.0, self._batch_started + self._max_age - now)

    def batch_is_stale(self, now: float) -> bool:
        """True when queued records have waited longer than max_batch_age_seconds."""
        return self.queued_records > 0 and now - self._batch_started >= self._max_age

    # ------------------------------------------------------------------ commit + STATE
    def commit(self) -> None:
        """Hand every queued record of every stream, and the latest STATE, to one commit.

        The commit runs on the worker thread, in order with earlier ones; the STATE is
        relayed there once the records before it are committed.
        """
        batches = [
            (sink, sink.take_pending())
            for sink in t.cast(
                "list[StreamSink]", [*self._sinks_to_clear, *self._sinks_active.values()]
            )
            if sink.pending.count
        ]
        state = self._pending_state
        received_at = self._batch_received_at.isoformat()
        self._sinks_to_clear = []
        self.queued_records = 0
        self._worker.submit(lambda: self._commit_batches(batches, state, received_at))

    def _commit_batches(
        self,
        batches: list[tuple[StreamSink, PendingRecords]],
        state: dict | None,
        received_at: str,
    ) -> None:
        """Worker thread: write raw, rejects and unified for each stream, then relay STATE."""
        if not self._swept:
            self.unified.sweep_staging()
            self._swept = True
        ingest_time = datetime.now(UTC)
        validate = bool(self.config.get("validate_records", True))
        quarantine = self.config.get("on_invalid_record") == "quarantine"
        for sink, pending in batches:
            result = commit_stream(
                sink,
                pending,
                storage=self.storage,
                unified=self.unified,
                raw_tables=self.raw_tables,
                ingest_time=ingest_time,
                received_at=received_at,
                validate=validate,
                quarantine=quarantine,
                side=self._side,
            )
            # singer-sdk's record_count metric (the batched reader bypasses its per-record count)
            sink.record_counter_metric.increment(result.records + result.rejected)
            self.logger.info(
                "Committed stream %r: %d raw record(s), %d rejected, %d new trade(s) in "
                "trades_unified, %d already committed (dropped).",
                result.stream,
                result.records,
                result.rejected,
                sum(r.rows_written for r in result.unified),
                sum(r.rows_already_committed for r in result.unified),
            )
        if state is not None and state != self._relayed_state:
            self._write_state_message(state)
            self._relayed_state = state

    def _process_state_message(self, message_dict: dict) -> None:
        """Keep the STATE; relay it at once if everything before it is already committed."""
        self._assert_line_requires(message_dict, requires={"value"})
        self._pending_state = message_dict["value"]
        if self.queued_records == 0 or self.batch_is_stale(time.monotonic()):
            self.commit()

    def process_endofpipe(self) -> None:
        """End of input: commit what is queued, wait for it, relay the final STATE."""
        self.commit()
        self._worker.finish()
        for sink in self._sinks_active.values():
            sink.clean_up()

    def finish_commits_after_input_error(self) -> None:
        """Bad input: let commits already handed over finish (and relay their STATE)."""
        self._worker.wait()

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """On SIGTERM/SIGINT stop at once: queued records are replayed from the last STATE."""
        self.logger.warning(
            "Received signal %d: exiting without committing the %d queued record(s); a rerun "
            "from the last STATE printed replays them (committed trades are not duplicated).",
            signum,
            self.queued_records,
        )
        sys.exit(128 + signum)
