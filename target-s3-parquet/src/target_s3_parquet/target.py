"""target-s3-parquet: the singer-sdk Target — settings, wiring of the layers, commits and STATE.

The layers below only point down (see `target_s3_parquet.LAYERS` and docs/architecture.md):
input (`BatchedSingerReader`) → batching (`Batches`) → sink (`StreamSink.write_batch`) →
table (raw layer, `trades_unified`, storage). This module builds them from the settings,
hands the reader its batches and a sink lookup, and owns the STATE: `commit` takes the full
(or stale) batch of every sink and hands it, with the latest STATE, to the commit thread,
which has each sink write its batch and then relays the STATE.

How it hooks into singer-sdk:
- the reader replaces per-record decoding; SCHEMA/STATE/... still go through the SDK's
  callbacks, so sinks, schema changes and the SDK's exceptions behave as in any SDK target;
- the SDK's per-record and drain hooks are bypassed and raise if called (sinks.py);
- every private SDK member it uses goes through `schemahub_core.sdk_seam`; the private
  hooks it overrides are in the section "SDK hooks overridden" at the end, and listed in
  `sdk_seam.TARGET_HOOK_OVERRIDES` (checked against the installed singer-sdk).
"""

from __future__ import annotations

import gc
import sys
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from schemahub_core.arrow_memory import use_system_allocator
from schemahub_core.log_redaction import protect_secrets, secret_settings
from schemahub_core.mapping import load_mappings
from schemahub_core.sdk_seam import (
    active_sinks,
    batch_encoding,
    take_retired_sinks,
    write_target_state,
)
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, RecordsWithoutSchemaException
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.target_base import Target

from target_s3_parquet.batch_source import BatchFileSource
from target_s3_parquet.batching import Batches, ClosedBatch
from target_s3_parquet.pipeline import Destination
from target_s3_parquet.reader import BatchedSingerReader
from target_s3_parquet.sinks import BypassedHookError, StreamSink
from target_s3_parquet.staging import DEFAULT_ICEBERG_COMMIT_ROWS, StagedTrades
from target_s3_parquet.storage import open_storage
from target_s3_parquet.tables import DEFAULT_TABLE_FORMAT, TABLE_FORMATS, open_unified_table
from target_s3_parquet.worker import CommitWorker

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.helpers.capabilities import CapabilitiesEnum

    from target_s3_parquet.batch_commit import LoadedBatch

# Larger than the SDK's 10k default: per-commit costs (a commit record, small files, fsyncs)
# amortise over more rows, while memory stays ~50 MB per batch in flight (measured fastest here).
DEFAULT_BATCH_SIZE_ROWS = 50_000
COMPRESSIONS = ["zstd", "snappy", "gzip", "lz4", "brotli", "none"]

# singer-sdk settings this target does not honour, with the values that mean "off" (what it
# does anyway) and why. They are left out of --about (`append_builtin_config`), and any other
# value is refused at start-up: the SDK would otherwise accept and silently ignore them.
UNSUPPORTED_SDK_SETTINGS: dict[str, tuple[tuple[t.Any, ...], str]] = {
    "load_method": (
        (None, "append-only"),
        "trades_unified is insert-only (a trade already committed is dropped, never updated "
        "or overwritten)",
    ),
    "add_record_metadata": (
        (None, False),
        "the raw layer always adds _sdc_extracted_at and _sdc_received_at; trades_unified has "
        "a fixed schema",
    ),
    "hard_delete": ((None, False), "nothing is ever deleted from the raw layer or trades_unified"),
    "process_activate_version_messages": (
        (None, False),
        "ACTIVATE_VERSION (full-table replacement) is not supported; the message is logged "
        "and skipped",
    ),
    "batch_config": (
        (None, {}),
        "the target writes no batch files, and reads those of BATCH messages from the URIs "
        "in the message (s3:// with this target's AWS settings)",
    ),
    "stream_maps": ((None, {}), "stream maps are not offered (see the README)"),
    "stream_map_config": ((None, {}), "stream maps are not offered (see the README)"),
    "faker_config": ((None, {}), "stream maps are not offered (see the README)"),
    "flattening_enabled": ((None, False), "flattening is not offered (see the README)"),
    "flattening_max_depth": ((None,), "flattening is not offered (see the README)"),
}


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
        th.Property(
            "batch_size_rows",
            th.IntegerType(minimum=1),
            default=DEFAULT_BATCH_SIZE_ROWS,
            description="Records per batch, parsed, validated and written to the raw layer "
            "together; the Hive table commits each batch, Iceberg stages their trades "
            "(iceberg_commit_rows). A batch also closes every max_batch_age_seconds and at "
            "the end of input.",
        ),
        th.Property(
            "iceberg_commit_rows",
            th.IntegerType(minimum=1),
            default=DEFAULT_ICEBERG_COMMIT_ROWS,
            description="Iceberg: trades of RECORD batches staged per commit (one snapshot "
            "per exchange and symbol); also committed every max_batch_age_seconds, before a "
            "BATCH message and at the end of input. STATE is relayed after each commit. "
            "1: a commit per batch. The Hive table commits every batch.",
        ),
        th.Property(
            "delete_batch_files",
            th.BooleanType,
            default=False,
            description="Delete the files of each BATCH message once their trades are "
            "committed (a copy is kept under raw_batches/). Off: the tap or an operator owns "
            "them.",
        ),
        th.Property(
            "validate_records",
            th.BooleanType,
            default=True,
            description="Check every record against its stream's SCHEMA (in bulk); an invalid "
            "record is handled as on_invalid_record says.",
        ),
    ).to_dict()

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """Add none of singer-sdk's built-in settings.

        The two this target honours (batch_size_rows, validate_records) are declared above,
        the others are refused.
        """

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Wire the layers from the settings: storage and table, sinks' destination, batches."""
        # The SDK's mapper reads stream_maps/flattening settings: refuse those first.
        setup_mapper = kwargs.pop("setup_mapper", True)
        super().__init__(*args, setup_mapper=False, **kwargs)
        protect_secrets(secret_settings(self.config, self.config_jsonschema))
        use_system_allocator()
        self._refuse_unsupported_settings()
        if setup_mapper:
            self.setup_mapper()
        storage = open_storage(self.config.get("output_uri") or "./output", self.config)
        raw_tables = None
        if self.config.get("iceberg_raw_tables"):
            from target_s3_parquet.iceberg_raw import IcebergRawTables  # pyiceberg: only if used

            raw_tables = IcebergRawTables(dict(self.config))
        extra = [self.config["mappings_dir"]] if self.config.get("mappings_dir") else []
        max_age = float(self.config.get("max_batch_age_seconds") or 60)
        iceberg = (self.config.get("table_format") or DEFAULT_TABLE_FORMAT) == "iceberg"
        commit_rows = int(self.config.get("iceberg_commit_rows") or DEFAULT_ICEBERG_COMMIT_ROWS)
        staged = StagedTrades(commit_rows if iceberg else 1, max_age)
        self.destination = Destination(
            storage=storage,
            unified=open_unified_table(dict(self.config), storage, in_background=True),
            mappings=load_mappings(extra),
            validate=bool(self.config.get("validate_records", True)),
            quarantine=self.config.get("on_invalid_record") == "quarantine",
            # Builds each batch's raw file while the commit thread parses and maps the batch.
            side=ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-file"),
            log=self.logger,
            batch_files=BatchFileSource(dict(self.config)),
            raw_tables=raw_tables,
            delete_batch_files=bool(self.config.get("delete_batch_files")),
            staged=staged,
        )
        self.batches = Batches(
            int(self.config.get("batch_size_rows") or DEFAULT_BATCH_SIZE_ROWS),
            max_age,
            commit=self.commit,
        )
        self._pending_state: dict | None = None
        self._relayed_state: dict | None = None
        self._handed_state: dict | None = None  # the STATE of the last commit job submitted
        self._written_state: dict | None = None  # of the last job run (commit thread only)
        # Staged trades reaching max_batch_age_seconds are committed (and their STATE
        # relayed) by the commit thread itself, also while the input stays quiet.
        self._worker = CommitWorker(
            idle_job=self._commit_due_staged,
            idle_after=lambda: staged.seconds_until_due(time.monotonic()),
        )
        self.message_reader = BatchedSingerReader(
            self.batches,
            self.sink_named,
            # Bad input: everything before it is good, let commits already handed over
            # finish (and relay their STATE) before the error stops the run.
            on_input_error=self._commit_handed_over,
        )

    @classmethod
    def invoke(cls, **options: t.Any) -> None:
        """The command line run (singer-sdk's), then one step to exit fast.

        Every object still alive is frozen out of the garbage collector: the interpreter's
        collections at exit would otherwise walk them all (pyiceberg's and SQLAlchemy's
        models: ~0.3 s of an Iceberg run). Everything is committed and fsynced by then;
        stdout and stderr are still flushed at exit.
        """
        super().invoke(**options)
        gc.freeze()

    def _refuse_unsupported_settings(self) -> None:
        """Stop at start-up on an SDK setting this target would otherwise silently ignore."""
        errors = [
            f"setting {name!r} = {self.config[name]!r} is not supported by {self.name}: "
            f"{why}. Remove it from the target's config (allowed: "
            f"{', '.join(repr(v) for v in allowed if v is not None) or 'unset'})."
            for name, (allowed, why) in UNSUPPORTED_SDK_SETTINGS.items()
            if self.config.get(name) not in allowed
        ]
        if errors:
            raise ConfigValidationError("Unsupported settings", errors=errors)

    # ------------------------------------------------------------------ commit + STATE
    def commit(self, *, flush: bool = False) -> None:
        """Hand the open batch of every sink, and the latest STATE, to one commit.

        The commit runs on the worker thread, in order with earlier ones; the STATE is
        relayed there once the records before it are committed. `flush`: commit every
        staged trade too (the end of input, a BATCH message), not only when due.
        """
        closed = self.batches.take()
        state = self._handed_state = self._pending_state
        # The SDK would drain sinks a new SCHEMA replaced; the batch holds their records.
        take_retired_sinks(self)
        self._worker.submit(lambda: self._write(closed, state, flush=flush))

    def _write(self, closed: ClosedBatch, state: dict | None, *, flush: bool = False) -> None:
        """Worker thread: write each sink's batch, commit when due, relay the STATE.

        Each sink writes its batch (raw, rejects) and stages its trades; the staged trades
        are committed when due (staging.py); the STATE is relayed only if none waits staged.
        """
        ingest_time = datetime.now(UTC)
        received_at = closed.received_at.isoformat()
        for sink, pending in closed.streams:
            sink.write_batch(pending.assemble(), ingest_time, received_at, closed.started)
        # Even without trades to commit: no STATE (and no successful end) unless the table,
        # opened in the background, could be opened and swept.
        self.destination.unified.sweep_staging()
        if state is not None:
            self._written_state = state
        if flush or self.destination.staged.due(time.monotonic()):
            self._commit_staged()
        self._relay_state()

    def _commit_due_staged(self) -> None:
        """Commit thread, idle: commit staged trades if due, then relay the STATE."""
        if self.destination.staged.due(time.monotonic()):
            self._commit_staged()
            self._relay_state()

    def _relay_state(self) -> None:
        """Commit thread: relay the latest STATE written, unless trades still wait staged."""
        state = self._written_state
        if state is not None and state != self._relayed_state and self.destination.staged.empty:
            write_target_state(self, state)
            self._relayed_state = state

    def _commit_staged(self) -> None:
        """Worker thread: commit every staged trade (one commit per exchange and symbol)."""
        staged = self.destination.staged
        if staged.empty:
            return
        rows = staged.rows
        results = staged.commit(self.destination.unified, self.destination.raw_tables)
        if not results:
            return
        symbols = [f"{r.exchange} {r.symbol}" for r in results]
        self.logger.info(
            "Committed %d staged trade(s) to trades_unified: %d new, %d already committed "
            "(dropped), in %d commit(s) (%s%s).",
            rows,
            sum(r.rows_written for r in results),
            sum(r.rows_already_committed for r in results),
            len(results),
            ", ".join(symbols[:5]),
            f" and {len(symbols) - 5} more" if len(symbols) > 5 else "",
        )

    def _commit_batch_files(self, sink: StreamSink, loaded: LoadedBatch) -> None:
        """Worker thread: commit the staged trades, then the files of one BATCH message."""
        self._commit_staged()
        sink.commit_batch_files(loaded)

    def _commit_handed_over(self) -> None:
        """Bad input: commit what was handed over and staged before it, relay its STATE."""
        if not self._worker.failed:
            empty = ClosedBatch([], datetime.now(UTC), time.monotonic())
            state = self._handed_state
            self._worker.submit(lambda: self._write(empty, state, flush=True))
        self._worker.wait()

    def process_endofpipe(self) -> None:
        """End of input: commit what is queued, wait for it, relay the final STATE."""
        self.commit(flush=True)
        self._worker.finish()
        for sink in active_sinks(self).values():
            sink.clean_up()

    def sink_named(self, stream: str) -> StreamSink | None:
        """The active sink of `stream` (None before its SCHEMA)."""
        return t.cast("StreamSink | None", active_sinks(self).get(stream))

    # ---------------------------------------------------------------- SDK hooks overridden
    # Private hooks of singer_sdk.Target the SDK calls; a renamed one would be skipped
    # silently, so each is listed in schemahub_core.sdk_seam.TARGET_HOOK_OVERRIDES and
    # checked against the installed singer-sdk there.

    def _process_state_message(self, message_dict: dict) -> None:
        """Keep the STATE; relay it at once if everything before it is already committed.

        Replaces the SDK's `_latest_state`, which `drain_all` would print without our commit.
        """
        self.message_reader.assert_line_requires(message_dict, requires={"value"})
        self._pending_state = message_dict["value"]
        if self.batches.queued == 0 or self.batches.is_stale(time.monotonic()):
            self.commit()

    def _process_record_message(self, message_dict: dict) -> None:
        """Bypassed: BatchedSingerReader queues RECORDs in bulk and never calls this."""
        raise BypassedHookError(
            f"a RECORD of stream {message_dict.get('stream')!r} reached the SDK's per-record "
            f"callback, but target-s3-parquet reads RECORDs with its own reader "
            f"(BatchedSingerReader); a record here would never be committed. This is a bug "
            f"in the target or an unsupported singer-sdk change; please report it."
        )

    def _process_batch_message(self, message_dict: dict) -> None:
        """Load the BATCH message's files and queue their commit, in order with RECORDs.

        Replaces the SDK's handler, which calls `process_batch_files` at once and may drain
        every sink. Here the RECORDs queued before the message (and the STATE before it)
        are committed first, then the files; a STATE after the message is queued behind
        them, so it is relayed only once the files' trades are committed. Like RECORD
        batches, at most one message is being loaded, one waits and one is committed.
        """
        self.message_reader.assert_line_requires(
            message_dict, requires={"stream", "encoding", "manifest"}
        )
        stream = message_dict["stream"]
        sink = self.sink_named(stream)
        if sink is None:
            raise RecordsWithoutSchemaException(
                f"a BATCH message for stream {stream!r} came before its SCHEMA message. "
                f"Check that the tap emits SCHEMA first."
            )
        try:
            encoding = batch_encoding(message_dict)
        except TypeError as exc:
            raise InvalidInputLine(
                f"stream {stream!r}: BATCH message encoding {message_dict['encoding']!r} is "
                f"not singer-sdk's ({exc}); expected e.g. "
                f'{{"format": "jsonl", "compression": "gzip"}}'
            ) from exc
        if self.batches.queued or self._pending_state is not self._handed_state:
            # RECORDs (or a STATE) before the message: their commit goes first. With nothing
            # new, no empty job: it would take the queue's one slot and hold this reader up
            # until the commit running now ends, instead of loading the files beside it.
            self.commit(flush=True)
        # Loaded here, on the reader, while the commit thread commits what came before.
        loaded = sink.load_batch_files(encoding, message_dict["manifest"])
        self._worker.submit(lambda: self._commit_batch_files(sink, loaded))

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """On SIGTERM/SIGINT stop at once: queued records are replayed from the last STATE."""
        self.logger.warning(
            "Received signal %d: exiting without committing the %d queued record(s); a rerun "
            "from the last STATE printed replays them (committed trades are not duplicated).",
            signum,
            self.batches.queued,
        )
        sys.exit(128 + signum)
