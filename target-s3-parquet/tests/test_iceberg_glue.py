"""The Glue catalog path (production's): create, append and load against moto's Glue and S3.

moto's Glue does not compare VersionId on UpdateTable (moto/glue/responses.py ignores it), so
racing writers are proven on the SQL catalog only (test_iceberg_table.py, decisions.md).
"""

from __future__ import annotations

import json

import boto3
from schemahub_core.cli import main as schemahub
from target_s3_parquet.synthetic import trade_lines
from target_s3_parquet.testing import (
    assert_exactly_once,
    make_glue_output,
    read_iceberg,
    run_in_process,
)


def test_glue_catalog_creates_appends_and_loads_trades_unified_exactly_once(moto_endpoint, capsys):
    output = make_glue_output(moto_endpoint)
    config = {**output.config, "batch_size_rows": 1_000}
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1, 1_500))  # creates
    run_in_process(config, trade_lines("binance_trades", "BTCUSDT", 1_200, 2_000))  # appends

    glue = boto3.client("glue", endpoint_url=moto_endpoint, region_name="us-east-1")
    table = glue.get_table(DatabaseName="schemahub", Name="trades_unified")["Table"]
    # What Athena needs to read it as Iceberg: the table type and the current metadata file.
    assert table["Parameters"]["table_type"] == "ICEBERG"
    assert table["Parameters"]["metadata_location"].startswith(
        f"{output.uri}/schemahub/trades_unified/metadata/"
    )
    assert_exactly_once(read_iceberg(config), {("BINANCE", "BTCUSDT"): range(1, 2_001)})

    catalog = json.dumps(config["iceberg_catalog"])
    sql = "SELECT count(DISTINCT trade_id) AS n FROM trades_unified"
    location = ["--output-uri", output.uri, "--s3-endpoint-url", moto_endpoint]
    code = schemahub(["query", sql, "--format", "json", *location, "--iceberg-catalog", catalog])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out) == [{"n": 2_000}]
