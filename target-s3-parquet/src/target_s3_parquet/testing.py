"""Helpers for testing this target end to end: run it as a subprocess, read the table back.

Used by the package's tests and the repository's end-to-end tests; needs no pytest.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs


@dataclass
class Output:
    """Where a test's target writes, and the config that points there."""

    uri: str
    config: dict = field(default_factory=dict)
    local_root: Path | None = None
    endpoint: str | None = None

    @property
    def filesystem_and_root(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem reading this output, and the root path inside it."""
        if self.local_root is not None:
            return pafs.LocalFileSystem(), str(self.local_root)
        assert self.endpoint is not None
        s3 = pafs.S3FileSystem(
            endpoint_override=self.endpoint,
            access_key="testing",
            secret_key="testing",
            region="us-east-1",
            scheme="http",
        )
        return s3, self.uri.removeprefix("s3://")

    def keys(self, prefix: str = "") -> list[str]:
        """Every stored object key (relative to the output root) under `prefix`."""
        fs, root = self.filesystem_and_root
        selector = pafs.FileSelector(
            f"{root}/{prefix}".rstrip("/"), recursive=True, allow_not_found=True
        )
        return sorted(
            info.path[len(root) + 1 :]
            for info in fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        )


def make_local_output(root: Path, table_format: str = "hive") -> Output:
    """A local output folder holding the unified table in `table_format`."""
    return Output(str(root), {"output_uri": str(root), "table_format": table_format}, root)


def make_s3_output(
    endpoint: str, table_format: str = "hive", catalog_dir: Path | None = None
) -> Output:
    """A fresh moto bucket (Iceberg: the warehouse there, a SQLite catalog in `catalog_dir`)."""
    import boto3

    bucket = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    uri = f"s3://{bucket}/lake"
    config: dict[str, Any] = {
        "output_uri": uri,
        "s3_endpoint_url": endpoint,
        "aws_region": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "table_format": table_format,
    }
    if table_format == "iceberg":
        assert catalog_dir is not None, "an Iceberg table on S3 needs a catalog_dir"
        catalog = catalog_dir / f"catalog-{bucket}.db"
        config["iceberg_catalog"] = {"type": "sql", "uri": f"sqlite:///{catalog}"}
    return Output(uri, config, endpoint=endpoint)


def make_glue_output(endpoint: str) -> Output:
    """A fresh moto bucket holding the warehouse, the Iceberg table in moto's Glue catalog."""
    output = make_s3_output(endpoint, "hive")
    catalog = {"type": "glue", "glue.endpoint": endpoint, "glue.region": "us-east-1"}
    return Output(
        output.uri,
        {**output.config, "table_format": "iceberg", "iceberg_catalog": catalog},
        endpoint=endpoint,
    )


@dataclass
class RunResult:
    """A finished target process."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def states(self) -> list[dict]:
        """Every stdout line, parsed: the target prints nothing but bare STATE values."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def target_command(config_path: Path) -> list[str]:
    """The command line running the installed target."""
    return [sys.executable, "-m", "target_s3_parquet", "--config", str(config_path)]


def write_config(tmp_path: Path, config: dict) -> Path:
    """Store a config file for a subprocess run."""
    path = tmp_path / f"config-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(config))
    return path


def run_target(
    tmp_path: Path, config: dict, lines: Iterable[str], timeout: float = 120
) -> RunResult:
    """Run the target as a subprocess (`python -m target_s3_parquet`) on the given lines."""
    data = "".join(f"{line}\n" for line in lines)
    proc = subprocess.run(
        target_command(write_config(tmp_path, config)),
        input=data,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return RunResult(proc.returncode, proc.stdout, proc.stderr)


def run_in_process(
    config: dict, lines: Iterable[str | bytes], states: list[dict] | None = None
) -> list[dict]:
    """Run the target inside this process (fast: no interpreter start); returns the STATEs.

    Lines given as bytes are fed as they are (e.g. invalid UTF-8). Errors propagate as the
    exceptions the target raises; `states`, when given, receives the STATEs printed before
    the error too.
    """
    from target_s3_parquet.target import TargetS3Parquet

    stdout = io.StringIO()
    printed = states if states is not None else []
    target = TargetS3Parquet(config=config)
    try:
        with contextlib.redirect_stdout(stdout):
            # Bytes under a text wrapper, as on stdin: the reader reads the bytes in blocks
            # (a StringIO is read line by line) and never decodes them as a whole.
            data = b"".join(_as_bytes(line) + b"\n" for line in lines)
            target.listen(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    finally:
        printed += [json.loads(line) for line in stdout.getvalue().splitlines() if line.strip()]
    return printed


def _as_bytes(line: str | bytes) -> bytes:
    return line if isinstance(line, bytes) else line.encode()


def watermark(state: dict, stream: str) -> int:
    """The watermark (replication_key_value) of the first partition of `stream` in a STATE."""
    return int(state["bookmarks"][stream]["partitions"][0]["replication_key_value"])


def read_unified(output: Output) -> pa.Table:
    """The whole unified table as a plain reader sees it (unified columns + date)."""
    if output.config.get("table_format", "iceberg") == "iceberg":
        return read_iceberg(output.config)
    fs, root = output.filesystem_and_root
    base = f"{root}/unified/trades_unified"
    files = [
        f"{root}/{key}" for key in output.keys("unified/trades_unified") if key.endswith(".parquet")
    ]
    if not files:
        return pa.table({})
    dataset = ds.dataset(
        files,
        filesystem=fs,
        format="parquet",
        # "uri": decode the %XX of schemahub_core.paths.partition_path, as every reader must.
        partitioning=ds.HivePartitioning(
            pa.schema([("exchange", pa.string()), ("symbol", pa.string()), ("date", pa.date32())]),
            segment_encoding="uri",
        ),
        partition_base_dir=base,
    )
    return dataset.to_table()


def trade_counts(table: pa.Table) -> dict[tuple[str, str, str], int]:
    """How many rows each (exchange, symbol, trade_id) has."""
    counts: dict[tuple[str, str, str], int] = {}
    if table.num_rows == 0:
        return counts
    grouped = table.group_by(["exchange", "symbol", "trade_id"]).aggregate([("trade_id", "count")])
    for row in grouped.to_pylist():
        counts[(row["exchange"], row["symbol"], row["trade_id"])] = row["trade_id_count"]
    return counts


def assert_exactly_once(table: pa.Table, expected: dict[tuple[str, str], range]) -> None:
    """Every expected trade id appears exactly once, and nothing else appears."""
    counts = trade_counts(table)
    duplicated = {k: v for k, v in counts.items() if v != 1}
    assert not duplicated, f"duplicated trades: {sorted(duplicated.items())[:10]}"
    want = {(e, s, str(i)) for (e, s), ids in expected.items() for i in ids}
    missing = want - counts.keys()
    extra = counts.keys() - want
    assert not missing, f"{len(missing)} missing trades, e.g. {sorted(missing)[:10]}"
    assert not extra, f"{len(extra)} unexpected trades, e.g. {sorted(extra)[:10]}"


def read_iceberg(config: dict, snapshot_id: int | None = None) -> pa.Table:
    """The Iceberg table of a target config, read with plain pyiceberg (plus `date`)."""
    from pyiceberg.exceptions import NoSuchTableError
    from schemahub_core import iceberg as catalogs
    from schemahub_core.schema import partition_dates

    from target_s3_parquet.iceberg_table import catalog_properties_for_target

    catalog = catalogs.load_catalog(catalog_properties_for_target(config))
    try:
        table = catalog.load_table(catalogs.UNIFIED_IDENTIFIER).scan(snapshot_id=snapshot_id)
    except NoSuchTableError:
        return pa.table({})
    rows = table.to_arrow()
    return rows.append_column("date", partition_dates(rows.column("trade_ts")))


@dataclass
class Pipeline:
    """One shard's `tap | target` pipeline: its name, the tap's command line, the target config."""

    name: str
    tap_command: list[str]
    target_config: dict


@dataclass
class PipelineRun:
    """A finished pipeline: exit codes, the target's STATEs and its lost commit races."""

    name: str
    tap_returncode: int
    target_returncode: int
    states: list[dict]
    lost_races: int
    stderr: str


def lost_races(stderr: str) -> int:
    """How many commit races the target lost (and retried) according to its log."""
    from target_s3_parquet.iceberg_table import LOST_RACE_LOG

    marker = LOST_RACE_LOG.split("%s")[0]
    return sum(marker in line for line in stderr.splitlines())


def run_concurrently(
    pipelines: list[Pipeline],
    workdir: Path,
    *,
    alongside: list[str] | None = None,
    timeout: float = 300,
) -> tuple[list[PipelineRun], list[subprocess.CompletedProcess[str]]]:
    """Run every pipeline at once; run `alongside` again and again until they have all ended.

    Each pipeline's tap writes straight into its target (an OS pipe, as Meltano does); logs go
    to files under `workdir`, so no pipe fills up. Returns the pipelines' results and every
    finished run of `alongside` (e.g. `schemahub compact --json`), in order.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    started = []
    for pipeline in pipelines:
        config = workdir / f"{pipeline.name}.target.json"
        config.write_text(json.dumps(pipeline.target_config))
        tap_log = (workdir / f"{pipeline.name}.tap.log").open("w")
        target_log = (workdir / f"{pipeline.name}.target.log").open("w")
        tap = subprocess.Popen(pipeline.tap_command, stdout=subprocess.PIPE, stderr=tap_log)
        target = subprocess.Popen(
            target_command(config), stdin=tap.stdout, stdout=subprocess.PIPE, stderr=target_log
        )
        assert tap.stdout is not None
        tap.stdout.close()  # the target holds the read end; the tap sees SIGPIPE if it dies
        started.append((pipeline, tap, target, tap_log, target_log))
    side_runs: list[subprocess.CompletedProcess[str]] = []
    while alongside and any(target.poll() is None for _, _, target, _, _ in started):
        side_runs.append(
            subprocess.run(alongside, capture_output=True, text=True, timeout=timeout, check=False)
        )
    runs = []
    for pipeline, tap, target, tap_log, target_log in started:
        stdout, _ = target.communicate(timeout=timeout)
        tap.wait(timeout=timeout)
        tap_log.close()
        target_log.close()
        stderr = (workdir / f"{pipeline.name}.target.log").read_text()
        runs.append(
            PipelineRun(
                name=pipeline.name,
                tap_returncode=tap.returncode,
                target_returncode=target.returncode,
                states=[json.loads(line) for line in stdout.decode().splitlines() if line.strip()],
                lost_races=lost_races(stderr),
                stderr=stderr,
            )
        )
    return runs, side_runs


def unified_rows(ids: range, symbol: str = "BTCUSDT", *, minutes_apart: int = 1) -> pa.Table:
    """Mapped trades_unified rows of BINANCE `symbol`: trade `i` at 2026-01-01 + i steps.

    A step is `minutes_apart` minutes.
    """
    from datetime import UTC, datetime, timedelta

    from schemahub_core.schema import UNIFIED_SCHEMA

    start = datetime(2026, 1, 1, tzinfo=UTC)
    n = len(ids)
    return pa.table(
        {
            "exchange": ["BINANCE"] * n,
            "symbol": [symbol] * n,
            "base_asset": [symbol[:3]] * n,
            "quote_asset": ["USDT"] * n,
            "trade_id": [str(i) for i in ids],
            "side": ["BUY" if i % 2 else "SELL" for i in ids],
            "price": [100.0 + i for i in ids],
            "quantity": [0.5 * i for i in ids],
            "trade_ts": [start + timedelta(minutes=i * minutes_apart) for i in ids],
            "ingest_ts": [start] * n,
        },
        schema=UNIFIED_SCHEMA,
    )
