"""The BATCH lane: files of singer-sdk BATCH messages are loaded with Arrow and committed
exactly once, kept byte for byte under raw_batches/, and no STATE after a BATCH is printed
before its trades are committed."""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import signal
import subprocess
import threading
import time
from contextlib import redirect_stdout
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from schemahub_core import iceberg as catalogs
from singer_sdk import Stream, Tap
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.singerlib.exceptions import InvalidInputLine
from target_s3_parquet.batch_files import BatchFileError, read_batch_file
from target_s3_parquet.iceberg_table import catalog_properties_for_target
from target_s3_parquet.raw_layer import raw_batch_key
from target_s3_parquet.schema_rules import stream_shape
from target_s3_parquet.sinks import StreamSink
from target_s3_parquet.storage import StorageError, open_storage
from target_s3_parquet.synthetic import (
    BINANCE_SCHEMA,
    COINBASE_SCHEMA,
    binance_record,
    coinbase_record,
    record_line,
    schema_line,
    state_line,
)
from target_s3_parquet.testing import (
    Output,
    assert_exactly_once,
    make_s3_output,
    read_unified,
    run_in_process,
    run_target,
    target_command,
    trade_counts,
    watermark,
    write_config,
)

TRADES = 1000


class _CoinbaseTrades(Stream):
    """coinbase_trades as tap-coinbase declares it, synthetic trades 1..TRADES of BTC-USD."""

    name = "coinbase_trades"
    schema = COINBASE_SCHEMA
    primary_keys = ("product_id", "trade_id")
    replication_key = "trade_id"

    def get_records(self, context: dict | None):
        for trade_id in range(1, TRADES + 1):
            yield coinbase_record("BTC-USD", trade_id)


class _BinanceTrades(Stream):
    """binance_trades as tap-binance declares it (integer µs time, booleans), ETHUSDT."""

    name = "binance_trades"
    schema = BINANCE_SCHEMA
    primary_keys = ("symbol", "id")
    replication_key = "id"

    def get_records(self, context: dict | None):
        for trade_id in range(1, TRADES + 1):
            yield binance_record("ETHUSDT", trade_id)


class _StockTap(Tap):
    """A plain singer-sdk tap: with batch_config the SDK itself writes BATCH messages."""

    name = "tap-stock"
    config_jsonschema = {"type": "object", "properties": {}}

    def discover_streams(self):
        return [_CoinbaseTrades(self), _BinanceTrades(self)]


def _stock_tap_lines(batch_root: Path | None, encoding: dict) -> list[str]:
    """The tap's output: BATCH messages (files under `batch_root`), or RECORDs if None."""
    config: dict = {}
    if batch_root is not None:
        config["batch_config"] = {
            "encoding": encoding,
            "storage": {"root": batch_root.as_uri(), "prefix": "batch-"},
            "batch_size": 400,
        }
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        _StockTap(config=config, parse_env_config=False).sync_all()
    return stdout.getvalue().splitlines()


def _read_back(output: Output) -> pa.Table:
    """trades_unified as a plain reader sees it (DuckDB for Hive, pyiceberg for Iceberg),
    sorted, without ingest_ts (the commit time)."""
    if output.config["table_format"] == "hive":
        files = f"{output.local_root}/unified/trades_unified/**/*.parquet"
        table = duckdb.sql(
            f"SELECT * FROM read_parquet('{files}', hive_partitioning = true, hive_types = "
            f"{{'exchange': 'VARCHAR', 'symbol': 'VARCHAR', 'date': 'DATE'}})"
        ).to_arrow_table()
    else:
        table = read_unified(output)
    table = table.drop_columns(["ingest_ts"])
    return table.sort_by([("exchange", "ascending"), ("trade_id", "ascending")])


@pytest.mark.slow
@pytest.mark.parametrize(
    "encoding",
    [{"format": "jsonl", "compression": "gzip"}, {"format": "parquet"}],
    ids=["jsonl-gzip", "parquet"],
)
def test_stock_sdk_tap_batches_load_like_its_records(any_output, tmp_path, encoding):
    batch_lines = _stock_tap_lines(tmp_path / "batches", encoding)
    kinds = [json.loads(line)["type"] for line in batch_lines]
    assert kinds.count("BATCH") == 6
    assert "RECORD" not in kinds

    states = run_in_process(any_output.config, batch_lines)

    expected = {("COINBASE", "BTC-USD"): range(1, TRADES + 1)}
    expected[("BINANCE", "ETHUSDT")] = range(1, TRADES + 1)
    batched = read_unified(any_output)
    assert_exactly_once(batched, expected)
    # The oracle: the same tap's RECORD output, through the RECORD lane, gives the same rows.
    record_output = Output(
        str(tmp_path / "records"), {**any_output.config, "output_uri": str(tmp_path / "records")}
    )
    if record_output.config["table_format"] == "iceberg":
        record_output.config["iceberg_catalog"] = {
            "type": "sql",
            "uri": f"sqlite:///{tmp_path / 'records-catalog.db'}",
        }
    record_output.local_root = tmp_path / "records"
    run_in_process(record_output.config, _stock_tap_lines(None, encoding))
    assert _read_back(any_output).equals(_read_back(record_output))
    assert states[-1] == json.loads(batch_lines[-1])["value"]


# --------------------------------------------------------------- hand-made BATCH messages
def _jsonl_gz(path: Path, first: int, last: int) -> Path:
    lines = (json.dumps(coinbase_record("BTC-USD", i)) + "\n" for i in range(first, last + 1))
    path.write_bytes(gzip.compress("".join(lines).encode()))
    return path


def _batch_line(uris: list[str], file_format: str = "jsonl") -> str:
    encoding = {"format": file_format, "compression": "gzip" if file_format == "jsonl" else None}
    return json.dumps(
        {"type": "BATCH", "stream": "coinbase_trades", "encoding": encoding, "manifest": uris}
    )


def _records_then_batch(batch_uri: str, file_format: str = "jsonl") -> list[str]:
    """RECORDs 1-50 and STATE 50, then a BATCH of 51-100 and STATE 100."""
    return [
        schema_line("coinbase_trades"),
        *(record_line("coinbase_trades", coinbase_record("BTC-USD", i)) for i in range(1, 51)),
        state_line("coinbase_trades", "BTC-USD", 50),
        _batch_line([batch_uri], file_format),
        state_line("coinbase_trades", "BTC-USD", 100),
    ]


def test_state_after_a_batch_comes_once_its_trades_are_committed(any_output, tmp_path):
    batch = _jsonl_gz(tmp_path / "51-100.json.gz", 51, 100)

    states = run_in_process(any_output.config, _records_then_batch(batch.as_uri()))

    assert [watermark(state, "coinbase_trades") for state in states] == [50, 100]
    assert_exactly_once(read_unified(any_output), {("COINBASE", "BTC-USD"): range(1, 101)})


def test_batch_files_are_kept_byte_for_byte_under_raw_batches(local_output, tmp_path):
    batch = _jsonl_gz(tmp_path / "51-100.json.gz", 51, 100)

    run_in_process(local_output.config, _records_then_batch(str(batch)))  # a plain path
    run_in_process(local_output.config, _records_then_batch(batch.as_uri()))  # rerun: file://

    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 101)})
    kept = local_output.keys("raw_batches")
    assert len(kept) == 1, kept  # the rerun found its own copy: same content, same key
    assert kept[0].startswith("raw_batches/coinbase_trades/ingest_date=")
    assert kept[0].endswith("-51-100.json.gz")
    assert (local_output.local_root / kept[0]).read_bytes() == batch.read_bytes()
    assert batch.exists()  # delete_batch_files is off by default


def test_iceberg_raw_tables_get_the_rows_of_batch_files(iceberg_output, tmp_path):
    files = [
        _jsonl_gz(tmp_path / "51-75.json.gz", 51, 75),
        _jsonl_gz(tmp_path / "76-100.json.gz", 76, 100),
    ]
    config = {**iceberg_output.config, "iceberg_raw_tables": True}
    lines = _records_then_batch(files[0].as_uri())
    lines[-2] = _batch_line([file.as_uri() for file in files])  # one message, two files

    run_in_process(config, lines)

    catalog = catalogs.load_catalog(catalog_properties_for_target(config))
    table = catalog.load_table((catalogs.NAMESPACE, "raw_coinbase_trades"))
    # The staged records' rows first, then one append for the message's two files.
    totals = sorted(int(s.summary["total-records"]) for s in table.metadata.snapshots)
    assert totals == [50, 100]
    raw = table.scan().to_arrow()
    assert sorted(raw.column("trade_id").to_pylist()) == list(range(1, 101))
    from_batch = raw.filter(pc.greater(raw.column("trade_id"), 50))
    assert from_batch.column("price").to_pylist() == [
        coinbase_record("BTC-USD", i)["price"] for i in range(51, 101)
    ]
    assert from_batch.column("_sdc_extracted_at").null_count == 50


def test_delete_batch_files_removes_them_once_committed(local_output, tmp_path):
    batch = _jsonl_gz(tmp_path / "51-100.json.gz", 51, 100)
    config = {**local_output.config, "delete_batch_files": True}

    run_in_process(config, _records_then_batch(batch.as_uri()))

    assert not batch.exists()
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 101)})


def test_a_different_object_at_the_raw_batch_key_is_never_overwritten(local_output, tmp_path):
    batch = _jsonl_gz(tmp_path / "51-100.json.gz", 51, 100)
    run_in_process(local_output.config, _records_then_batch(batch.as_uri()))
    [key] = local_output.keys("raw_batches")
    (local_output.local_root / key).write_bytes(b"someone else's object")
    states: list[dict] = []

    lines = _records_then_batch(batch.as_uri())
    with pytest.raises(StorageError, match="different content is already there"):
        run_in_process(local_output.config, [lines[0], *lines[-2:]], states)

    assert (local_output.local_root / key).read_bytes() == b"someone else's object"
    assert states == []  # the STATE after the BATCH is not printed


def test_no_trade_of_a_batch_is_committed_before_its_raw_copy_is_kept(any_output, tmp_path):
    batch = _jsonl_gz(tmp_path / "51-100.json.gz", 51, 100)
    now = datetime.now(UTC)
    key = raw_batch_key("coinbase_trades", now, "51-100.json.gz", batch.read_bytes())
    storage = open_storage(any_output.uri, any_output.config)
    storage.put(key, b"someone else's object")
    states: list[dict] = []

    with pytest.raises(StorageError, match="different content is already there"):
        run_in_process(any_output.config, _records_then_batch(batch.as_uri()), states)

    assert [watermark(state, "coinbase_trades") for state in states] == [50]
    assert_exactly_once(read_unified(any_output), {("COINBASE", "BTC-USD"): range(1, 51)})
    assert storage.get(key) == b"someone else's object"


def test_s3_batch_files_are_read_with_the_targets_aws_settings(moto_endpoint, tmp_path):
    output = make_s3_output(moto_endpoint, "hive")
    bucket = output.uri.removeprefix("s3://").split("/")[0]
    batch = _jsonl_gz(tmp_path / "51-100.json.gz", 51, 100)
    boto3.client("s3", endpoint_url=moto_endpoint).put_object(
        Bucket=bucket, Key="batches/51-100.json.gz", Body=batch.read_bytes()
    )
    uri = f"s3://{bucket}/batches/51-100.json.gz"

    states = run_in_process({**output.config, "delete_batch_files": True}, _records_then_batch(uri))

    assert watermark(states[-1], "coinbase_trades") == 100
    assert_exactly_once(read_unified(output), {("COINBASE", "BTC-USD"): range(1, 101)})
    [key] = output.keys("raw_batches")
    assert key.endswith("-51-100.json.gz")
    listed = boto3.client("s3", endpoint_url=moto_endpoint).list_objects_v2(
        Bucket=bucket, Prefix="batches/"
    )
    assert listed["KeyCount"] == 0  # deleted after the commit


# ------------------------------------------- the SDK's Parquet writer infers column types
TICKS_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "price": {"type": ["number", "null"], "minimum": 0},
        "qty": {"type": "number"},
        "note": {"type": ["string", "null"]},
        "venue": {"type": "string"},
    },
    "required": ["id"],
}


def _sdk_parquet(rows: list[dict]) -> bytes:
    """A Parquet batch file as singer-sdk's ParquetBatcher writes it (`from_pylist`)."""
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue().to_pybytes()


def _ticks(data: bytes, *, validate: bool = True) -> pa.Table:
    shape = stream_shape(TICKS_SCHEMA, ["id"])
    return read_batch_file(
        "ticks", "file:///b.parquet", "parquet", data, shape, TICKS_SCHEMA, validate=validate
    )


def test_sdk_parquet_columns_are_cast_to_the_schemas_types():
    # Decimals (the SDK parses JSON numbers as Decimal), integers in a number field, a
    # column of nulls only, a float with no fraction for an integer, a field never sent.
    data = _sdk_parquet(
        [
            {"id": 1.0, "price": Decimal("60000.25"), "qty": 3, "note": None},
            {"id": 2.0, "price": Decimal("0.5"), "qty": 4, "note": None},
        ]
    )

    table = _ticks(data)

    assert table.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("price", pa.float64()),
            ("qty", pa.float64()),
            ("note", pa.string()),
            ("venue", pa.string()),
        ]
    )
    assert table.to_pydict() == {
        "id": [1, 2],
        "price": [60000.25, 0.5],
        "qty": [3.0, 4.0],
        "note": [None, None],
        "venue": [None, None],
    }


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ([{"id": 1, "qty": 1, "note": 7}], "column 'note' is int64 in the file (e.g. 7)"),
        ([{"id": 1, "qty": "1.5"}], "column 'qty' is string in the file"),
        ([{"id": 1.5, "qty": 1}], "column 'id' (double) does not fit the SCHEMA's integer"),
        (
            [{"id": 1, "qty": 1, "price": -2.0}],
            "row 0: field 'price' = -2.0 breaks the SCHEMA's 'minimum'",
        ),
        ([{"qty": 1}], "has no column 'id', which the SCHEMA requires"),
        (
            [{"id": None, "qty": 1}, {"id": 1, "qty": 1}],
            "row 0: key property 'id' is missing or null",
        ),
    ],
)
def test_sdk_parquet_values_the_validator_refuses_are_refused(rows, says):
    with pytest.raises(BatchFileError, match=re.escape(says)):
        _ticks(_sdk_parquet(rows))


def test_parquet_of_a_stream_checked_record_by_record_is_refused_while_validating():
    schema = {"type": "object", "properties": {"id": {"type": "string", "pattern": "^[0-9]+$"}}}
    shape = stream_shape(schema, [])
    data = _sdk_parquet([{"id": "1"}])

    with pytest.raises(BatchFileError, match="send this stream as jsonl batches or RECORDs"):
        read_batch_file("s", "/b.parquet", "parquet", data, shape, schema, validate=True)
    loaded = read_batch_file("s", "/b.parquet", "parquet", data, shape, schema, validate=False)
    assert loaded.column("id").to_pylist() == ["1"]


# ------------------------------------------------------------------------- bad input
def _parquet(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def _coinbase_parquet(path: Path, first: int, last: int) -> Path:
    rows = [coinbase_record("BTC-USD", i) for i in range(first, last + 1)]
    return _parquet(path, pa.Table.from_pylist(rows))


def _bad_missing(tmp_path: Path) -> tuple[str, str]:
    return (tmp_path / "gone.json.gz").as_uri(), "jsonl"


def _bad_truncated_gzip(tmp_path: Path) -> tuple[str, str]:
    good = _jsonl_gz(tmp_path / "cut.json.gz", 51, 100).read_bytes()
    (tmp_path / "cut.json.gz").write_bytes(good[: len(good) // 2])
    return (tmp_path / "cut.json.gz").as_uri(), "jsonl"


def _bad_truncated_parquet(tmp_path: Path) -> tuple[str, str]:
    good = _coinbase_parquet(tmp_path / "cut.parquet", 51, 100).read_bytes()
    (tmp_path / "cut.parquet").write_bytes(good[: len(good) - 100])
    return (tmp_path / "cut.parquet").as_uri(), "parquet"


def _bad_corrupt_jsonl(tmp_path: Path) -> tuple[str, str]:
    lines = [json.dumps(coinbase_record("BTC-USD", i)) for i in range(51, 101)]
    lines[7] = lines[7][:40]  # a record cut mid-way
    (tmp_path / "corrupt.json.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
    return (tmp_path / "corrupt.json.gz").as_uri(), "jsonl"


def _bad_column_type(tmp_path: Path) -> tuple[str, str]:
    table = pa.Table.from_pylist([coinbase_record("BTC-USD", i) for i in range(51, 101)])
    prices = pc.cast(pc.cast(table.column("price"), pa.float64()), pa.int64(), safe=False)
    table = table.set_column(table.schema.get_field_index("price"), "price", prices)
    return _parquet(tmp_path / "int-price.parquet", table).as_uri(), "parquet"


def _bad_record_in_jsonl(tmp_path: Path) -> tuple[str, str]:
    records = [coinbase_record("BTC-USD", i) for i in range(51, 101)]
    records[3]["trade_id"] = "fifty-four"
    body = "".join(json.dumps(record) + "\n" for record in records)
    (tmp_path / "bad-id.json.gz").write_bytes(gzip.compress(body.encode()))
    return (tmp_path / "bad-id.json.gz").as_uri(), "jsonl"


def _bad_missing_bucket(tmp_path: Path) -> tuple[str, str]:
    return "s3://no-such-bucket-schemahub/batches/51-100.json.gz", "jsonl"


@pytest.mark.parametrize(
    ("make_bad", "says"),
    [
        (_bad_missing, "no such file"),
        (_bad_truncated_gzip, "is not a complete gzip file"),
        (_bad_truncated_parquet, "is not a readable Parquet file"),
        (_bad_corrupt_jsonl, "line 8 is not one JSON value"),
        (_bad_column_type, "column 'price' is int64 in the file"),
        (
            _bad_record_in_jsonl,
            "line 4: record does not match the stream's SCHEMA: field 'trade_id'",
        ),
        (_bad_missing_bucket, "NoSuchBucket"),
    ],
)
def test_a_bad_batch_file_stops_the_run_naming_it_and_commits_nothing_of_it(
    local_output, tmp_path, make_bad, says, moto_endpoint
):
    uri, file_format = make_bad(tmp_path)
    config = {**local_output.config, "s3_endpoint_url": moto_endpoint}
    states: list[dict] = []

    with pytest.raises(BatchFileError) as failure:
        run_in_process(config, _records_then_batch(uri, file_format), states)

    assert uri in str(failure.value)
    assert says in str(failure.value)
    # The RECORDs before the BATCH are committed with their STATE; nothing after it is.
    assert [watermark(state, "coinbase_trades") for state in states] == [50]
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 51)})
    assert local_output.keys("raw_batches") == []


@pytest.mark.parametrize(
    ("lines", "error", "says"),
    [
        ([_batch_line(["file:///x.json.gz"])], RecordsWithoutSchemaException, "before its SCHEMA"),
        (
            [schema_line("coinbase_trades"), _batch_line(["/x"]).replace('"format"', '"fmt"')],
            InvalidInputLine,
            "encoding {'fmt': 'jsonl', 'compression': 'gzip'} is not singer-sdk's",
        ),
    ],
    ids=["before-schema", "bad-encoding"],
)
def test_a_malformed_batch_message_stops_the_run(local_output, lines, error, says):
    with pytest.raises(error, match=re.escape(says)):
        run_in_process(local_output.config, lines)


def test_a_bad_batch_file_exits_non_zero_with_its_name(local_output, tmp_path):
    uri, file_format = _bad_missing(tmp_path)

    result = run_target(tmp_path, local_output.config, _records_then_batch(uri, file_format))

    assert result.returncode != 0
    assert f"batch file {uri}: no such file" in result.stderr
    assert [watermark(state, "coinbase_trades") for state in result.states] == [50]


# ---------------------------------------------------------------------------- crashes
def _binance_batches(folder: Path, files: int, per_file: int) -> list[tuple[str, str]]:
    """(BATCH line, STATE line) per Parquet file of BTCUSDT trades, as a tap emits them."""
    folder.mkdir()
    messages = []
    for number in range(files):
        first, last = number * per_file + 1, (number + 1) * per_file
        rows = [binance_record("BTCUSDT", i) for i in range(first, last + 1)]
        path = _parquet(folder / f"{first}-{last}.parquet", pa.Table.from_pylist(rows))
        batch = json.dumps(
            {
                "type": "BATCH",
                "stream": "binance_trades",
                "encoding": {"format": "parquet", "compression": None},
                "manifest": [path.as_uri()],
            }
        )
        messages.append((batch, state_line("binance_trades", "BTCUSDT", last)))
    return messages


def _run_until_killed(
    config_path: Path, lines: list[str], states_before_kill: int, rng: random.Random
) -> list[dict]:
    """Run the target, SIGKILL it after that many STATEs (+ a few ms); its printed STATEs."""
    process = subprocess.Popen(
        target_command(config_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write("".join(f"{line}\n" for line in lines))
    process.stdin.close()
    states = []
    for line in process.stdout:
        states.append(json.loads(line))
        if len(states) == states_before_kill:
            time.sleep(rng.uniform(0, 0.05))
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    return states


@pytest.mark.slow
def test_kills_during_batch_commits_then_reruns_leave_every_trade_once(local_output, tmp_path):
    rng = random.Random(16)
    messages = _binance_batches(tmp_path / "batches", files=8, per_file=100)
    config_path = write_config(tmp_path, local_output.config)
    done = 0  # BATCH messages covered by the last STATE printed
    for kill in (2, 3):
        lines = [schema_line("binance_trades")] + [m for pair in messages[done:] for m in pair]
        states = _run_until_killed(config_path, lines, kill, rng)
        if states:
            done = watermark(states[-1], "binance_trades") // 100
        counts = trade_counts(read_unified(local_output))
        assert set(counts.values()) <= {1}, "a trade committed twice"
        claimed = {("BINANCE", "BTCUSDT", str(i)) for i in range(1, done * 100 + 1)}
        assert claimed <= counts.keys(), "a printed STATE claims a trade not committed"
    lines = [schema_line("binance_trades")] + [m for pair in messages[done:] for m in pair]
    result = run_target(tmp_path, local_output.config, lines)

    assert result.returncode == 0, result.stderr[-2000:]
    assert_exactly_once(read_unified(local_output), {("BINANCE", "BTCUSDT"): range(1, 801)})


def test_the_next_batch_file_is_loaded_while_the_previous_one_commits(
    local_output, tmp_path, monkeypatch
):
    """BATCH, STATE, BATCH, STATE: file 2 is read and mapped beside the commit of file 1."""
    files = [
        _jsonl_gz(tmp_path / "1-50.json.gz", 1, 50),
        _jsonl_gz(tmp_path / "51-99.json.gz", 51, 99),
    ]
    second_load = threading.Event()
    loads: list[object] = []
    load, commit = StreamSink.load_batch_files, StreamSink.commit_batch_files

    def load_and_count(self, encoding, uris):
        loads.append(uris)
        if len(loads) == 2:
            second_load.set()
        return load(self, encoding, uris)

    def commit_once_file_2_loads(self, loaded):
        if not second_load.is_set():  # the commit of file 1
            assert second_load.wait(20), "file 2 was not loaded while file 1 was committed"
        return commit(self, loaded)

    monkeypatch.setattr(StreamSink, "load_batch_files", load_and_count)
    monkeypatch.setattr(StreamSink, "commit_batch_files", commit_once_file_2_loads)
    lines = [schema_line("coinbase_trades")]
    for file, last in zip(files, (50, 99), strict=True):
        lines += [_batch_line([file.as_uri()]), state_line("coinbase_trades", "BTC-USD", last)]

    states = run_in_process(local_output.config, lines)

    assert [watermark(state, "coinbase_trades") for state in states] == [50, 99]
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 100)})
