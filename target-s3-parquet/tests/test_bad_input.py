"""Bad input: a clear error (stream, line, what), non-zero exit, committed data intact, and
no STATE that claims more than was committed."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import time

import pytest
from schemahub_core.testing import free_port
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.singerlib.exceptions import InvalidInputLine
from target_s3_parquet.pipeline import MappingMismatchError
from target_s3_parquet.records import RecordError
from target_s3_parquet.storage import StorageError
from target_s3_parquet.synthetic import (
    COINBASE_SCHEMA,
    coinbase_record,
    record_line,
    state_line,
    trade_lines,
)
from target_s3_parquet.target import TargetS3Parquet
from target_s3_parquet.testing import (
    assert_exactly_once,
    make_s3_output,
    read_unified,
    run_in_process,
    run_target,
    watermark,
)


def _committed_then(bad_lines: list[str]) -> list[str]:
    """300 good trades with a STATE (committed at batch_size_rows=100), then bad input."""
    return [
        *trade_lines("coinbase_trades", "BTC-USD", 1, 300),
        state_line("coinbase_trades", "BTC-USD", 300),
        *bad_lines,
    ]


def test_malformed_json_exits_non_zero_naming_the_line_and_keeps_committed_data(
    local_output, tmp_path
):
    lines = _committed_then(['{"type": "RECORD", "stream": "coinbase_trades", "record": {'])
    result = run_target(tmp_path, {**local_output.config, "batch_size_rows": 100}, lines)
    assert result.returncode != 0
    assert "input line 303: not a valid Singer message" in result.stderr
    assert watermark(result.states[-1], "coinbase_trades") == 300
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 301)})


def test_record_before_schema_names_the_stream_and_line(local_output):
    with pytest.raises(RecordsWithoutSchemaException, match=r"input line 1: .*'coinbase_trades'"):
        run_in_process(
            local_output.config, [record_line("coinbase_trades", coinbase_record("BTC-USD", 1))]
        )


def test_message_without_type_is_rejected_with_its_line(local_output):
    with pytest.raises(InvalidInputLine, match="input line 2: message has no 'type' key"):
        run_in_process(
            local_output.config,
            [
                trade_lines("coinbase_trades", "A-B", 1, 1).__next__(),
                '{"stream": "coinbase_trades"}',
            ],
        )


def _bad_price_record() -> str:
    record = coinbase_record("BTC-USD", 301)
    record["price"] = 63000.5  # the schema says string
    return record_line("coinbase_trades", record)


def test_record_breaking_its_schema_fails_with_stream_line_and_problem(local_output):
    config = {**local_output.config, "batch_size_rows": 100}
    relayed: list[dict] = []
    with pytest.raises(RecordError) as error:
        run_in_process(config, _committed_then([_bad_price_record()]), states=relayed)
    message = str(error.value)
    assert "stream 'coinbase_trades', input line 303" in message
    assert "63000.5 is not of type 'string'" in message
    assert relayed
    assert all(watermark(s, "coinbase_trades") <= 300 for s in relayed)
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 301)})


def test_quarantine_sets_bad_records_aside_with_the_reason_and_goes_on(local_output):
    lines = [*trade_lines("coinbase_trades", "BTC-USD", 1, 50), _bad_price_record()]
    lines += [record_line("coinbase_trades", coinbase_record("BTC-USD", 302))]
    run_in_process({**local_output.config, "on_invalid_record": "quarantine"}, lines)
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): [*range(1, 51), 302]})
    rejects = list(local_output.local_root.glob("rejects/coinbase_trades/*/*.jsonl.gz"))
    assert len(rejects) == 1
    [entry] = [json.loads(x) for x in gzip.decompress(rejects[0].read_bytes()).splitlines()]
    assert entry["input_line"] == 52
    assert "is not of type 'string'" in entry["reason"]
    assert json.loads(entry["record_json"])["price"] == 63000.5


def test_mapping_that_does_not_fit_the_stream_is_named_and_commits_nothing(local_output, tmp_path):
    config = {**local_output.config, "batch_size_rows": 100}
    run_in_process(config, trade_lines("coinbase_trades", "BTC-USD", 1, 300))
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    from schemahub_core.mapping import packaged_mappings_dir

    text = (packaged_mappings_dir() / "coinbase_trades.yaml").read_text()
    (mappings / "coinbase_trades.yaml").write_text(
        text.replace("{from: size, transform: to_double}", "{from: volume, transform: to_double}")
    )
    with pytest.raises(MappingMismatchError) as error:
        run_in_process(
            {**config, "mappings_dir": str(mappings)},
            trade_lines("coinbase_trades", "BTC-USD", 301, 400),
        )
    message = str(error.value)
    assert "stream 'coinbase_trades', records on input lines 2-101" in message
    assert "volume" in message
    assert str(mappings / "coinbase_trades.yaml") in message
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 301)})


@pytest.mark.parametrize(
    "union",
    [{"type": ["string", "integer"]}, {"anyOf": [{"type": "string"}, {"type": "integer"}]}],
)
def test_mapped_field_turned_union_by_a_new_schema_is_named_truthfully(local_output, union):
    schema = {**COINBASE_SCHEMA, "properties": {**COINBASE_SCHEMA["properties"], "trade_id": union}}
    new_schema = {"type": "SCHEMA", "stream": "coinbase_trades", "schema": schema}
    new_schema["key_properties"] = ["product_id", "trade_id"]
    lines = _committed_then(
        [
            json.dumps(new_schema),
            *(record_line("coinbase_trades", coinbase_record("BTC-USD", i)) for i in (301, 302)),
            state_line("coinbase_trades", "BTC-USD", 302),
        ]
    )
    relayed: list[dict] = []
    with pytest.raises(ValueError, match="stream 'coinbase_trades'") as error:
        run_in_process({**local_output.config, "batch_size_rows": 100}, lines, states=relayed)
    message = str(error.value)
    assert "lack" not in message  # the records do carry trade_id
    assert "stream 'coinbase_trades'" in message
    assert "'trade_id'" in message
    assert json.dumps(union) in message
    assert "coinbase_trades.yaml" in message
    assert "one JSON type" in message
    assert watermark(relayed[-1], "coinbase_trades") == 300
    assert_exactly_once(read_unified(local_output), {("COINBASE", "BTC-USD"): range(1, 301)})


def test_unreachable_s3_fails_with_a_clear_error_and_prints_no_state(tmp_path):
    config = {
        "output_uri": "s3://nowhere-bucket/lake",
        "table_format": "hive",  # Iceberg without a catalog is refused before S3 is tried
        "s3_endpoint_url": f"http://127.0.0.1:{free_port()}",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "aws_region": "us-east-1",
    }
    result = run_target(tmp_path, config, _committed_then([]))
    assert result.returncode != 0
    assert "S3 " in result.stderr
    assert "s3://nowhere-bucket/lake/" in result.stderr
    assert "Could not connect to the endpoint URL" in result.stderr
    assert result.stdout == ""


def test_s3_failing_mid_run_keeps_what_was_committed(moto_endpoint):
    from moto.server import ThreadedMotoServer

    output = make_s3_output(moto_endpoint)  # the bucket lives in this process's moto backend
    # Its own server, not schemahub_core.testing.moto_server: this one must die mid-run.
    port = free_port()
    doomed = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    doomed.start()
    config = {
        **output.config,
        "s3_endpoint_url": f"http://127.0.0.1:{port}",
        "batch_size_rows": 100,
    }

    def lines_then_outage():
        for number, line in enumerate(
            _committed_then(trade_lines("coinbase_trades", "BTC-USD", 301, 450))
        ):
            if number == 305:
                # S3 goes away once the first 300 trades are committed and their STATE relayed
                deadline = time.monotonic() + 30
                while '"replication_key_value": 300' not in stdout.getvalue():
                    assert time.monotonic() < deadline, "the first commits never finished"
                    time.sleep(0.01)
                doomed.stop()
            yield line + "\n"

    stdout = io.StringIO()
    with (
        pytest.raises(StorageError, match=r"S3 \w+ of s3://") as error,
        contextlib.redirect_stdout(stdout),
    ):
        TargetS3Parquet(config=config).listen(lines_then_outage())
    assert "Could not connect" in str(error.value)
    relayed = [json.loads(x) for x in stdout.getvalue().splitlines()]
    assert watermark(relayed[-1], "coinbase_trades") == 300
    assert_exactly_once(read_unified(output), {("COINBASE", "BTC-USD"): range(1, 301)})
