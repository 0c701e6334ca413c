"""`meltano run` end to end: simulators -> taps -> target -> unified table, locally and on S3.

Exactness comes from the simulators' oracle (frozen market clocks): the table must hold every
trade of the requested window once, and a second run must add exactly the trades that
appeared since, starting at watermark + 1 because the state made the round trip via Meltano.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import duckdb
import pytest
from schemahub_core.check import check_unified_table
from schemahub_core.testing import DUMMY_AWS_ENV, moto_server

COINBASE_PRODUCTS = ("BTC-USD", "ETH-USD")
BINANCE_SYMBOLS = ("BTCUSDT", "ETHUSDT")
KRAKEN_PAIRS = ("XBTUSD", "ETHUSD")
WINDOW = dt.timedelta(minutes=2)


def set_start_date(project, start: dt.datetime) -> None:
    """Point every tap's cold start at `start` (ISO 8601, as a user would)."""
    project.env["TAP_COINBASE_START_DATE"] = start.isoformat()
    project.env["TAP_BINANCE_START_DATE"] = start.isoformat()
    project.env["TAP_KRAKEN_START_DATE"] = start.isoformat()


def expected_tables(exchanges, truth, start: dt.datetime, first_ids: dict | None = None) -> dict:
    """Every (exchange, symbol) -> its oracle trades from `start` (or given first ids) to now."""
    expected = {}
    for sim, exchange, products, mapper in (
        (exchanges.coinbase, "COINBASE", COINBASE_PRODUCTS, truth.coinbase),
        (exchanges.binance, "BINANCE", BINANCE_SYMBOLS, truth.binance),
        (exchanges.kraken, "KRAKEN", KRAKEN_PAIRS, truth.kraken),
    ):
        for product in products:
            first = (first_ids or {}).get(product) or sim.oracle.id_at_or_after(product, start)
            expected[(exchange, product)] = mapper(
                sim, product, first, sim.oracle.newest_id(product)
            )
    return expected


def raw_trade_id_counts(output: Path) -> Counter:
    """How often each (stream, product, id) reached the raw layer (every record received)."""
    rows = duckdb.sql(
        "SELECT 'c' AS s, product_id AS p, CAST(trade_id AS VARCHAR) AS i FROM read_json("
        f"'{output}/raw/coinbase_trades/*/*.jsonl.gz', format='newline_delimited')"
        " UNION ALL SELECT 'b', symbol, CAST(id AS VARCHAR) FROM read_json("
        f"'{output}/raw/binance_trades/*/*.jsonl.gz', format='newline_delimited')"
        " UNION ALL SELECT 'k', pair, CAST(trade_id AS VARCHAR) FROM read_json("
        f"'{output}/raw/kraken_trades/*/*.jsonl.gz', format='newline_delimited')"
    ).fetchall()
    return Counter(rows)


def test_ingest_all_holds_the_window_exactly_then_adds_exactly_the_new_trades(
    meltano_project, exchanges, truth, tmp_path: Path
) -> None:
    output = tmp_path / "output"
    start = exchanges.coinbase.clock.now() - WINDOW
    set_start_date(meltano_project, start)

    log = meltano_project.run("run", "ingest-all").stderr
    # The taps' own log lines (cold start, progress) reach the console through Meltano.
    assert "tap-coinbase" in log
    assert "coinbase_trades BTC-USD: cold start" in log
    first_run = expected_tables(exchanges, truth, start)
    for (exchange, symbol), trades in first_run.items():
        assert len(trades) > 100, f"the simulator window is too thin for {symbol}"
        assert truth.table(str(output), exchange, symbol) == trades, (exchange, symbol)

    # The watermarks Meltano stored are the newest trade ids written.
    state = json.loads(
        meltano_project.run("state", "get", "dev:tap-coinbase-to-target-s3-parquet").stdout
    )
    partitions = state["singer_state"]["bookmarks"]["coinbase_trades"]["partitions"]
    stored = {p["context"]["product_id"]: int(p["replication_key_value"]) for p in partitions}
    assert stored == {p: int(first_run[("COINBASE", p)][-1][0]) for p in COINBASE_PRODUCTS}

    exchanges.advance(45)
    meltano_project.run("run", "ingest-all")
    first_ids = {symbol: int(trades[0][0]) for (_, symbol), trades in first_run.items()}
    second_run = expected_tables(exchanges, truth, start, first_ids)
    for key, trades in second_run.items():
        assert len(trades) > len(first_run[key]), f"no new trades for {key}: test is vacuous"
        assert truth.table(str(output), *key) == trades, key

    # Run 2 began at watermark + 1: no trade was even sent twice (raw = every record received).
    counts = raw_trade_id_counts(output)
    assert max(counts.values()) == 1
    assert len(counts) == sum(len(t) for t in second_run.values())

    report = check_unified_table(str(output))
    assert report.ok, report.problems
    assert all(s.duplicate_trade_ids == 0 for s in report.symbols)
    # Kraken's ids are sparse by design: no missing-id figure (docs/operations.md).
    assert all(
        s.missing_trade_ids == (None if s.exchange == "KRAKEN" else 0) for s in report.symbols
    )
    assert_check_detects_injected_damage(output)


def assert_check_detects_injected_damage(output: Path) -> None:
    """On the real table, after the runs: a replayed BTC-USD batch and two lost ETH-USD trades
    (committed with plain pyiceberg, as a buggy writer or a bad manual fix would)."""
    from pyiceberg.expressions import And, EqualTo, In
    from schemahub_core.query import open_iceberg_table

    table = open_iceberg_table(str(output))
    replayed = table.scan(row_filter=EqualTo("symbol", "BTC-USD"), limit=100).to_arrow()
    eth = table.scan(row_filter=EqualTo("symbol", "ETH-USD")).to_arrow()
    eth_ids = sorted(eth.column("trade_id").to_pylist(), key=int)
    assert replayed.num_rows == 100
    assert len(eth_ids) > 10
    table.append(replayed)
    table.delete(And(EqualTo("symbol", "ETH-USD"), In("trade_id", eth_ids[3:5])))

    report = check_unified_table(str(output))
    by_symbol = {s.symbol: s for s in report.symbols}
    assert by_symbol["BTC-USD"].duplicate_trade_ids == 100
    assert by_symbol["ETH-USD"].missing_trade_ids == 2
    assert by_symbol["BTCUSDT"].duplicate_trade_ids == by_symbol["BTCUSDT"].missing_trade_ids == 0
    assert not report.ok


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback, with dummy credentials for this process too."""
    with moto_server() as endpoint:
        yield endpoint


def test_prod_environment_keeps_output_and_state_in_s3(
    meltano_project, exchanges, truth, moto_endpoint: str
) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="schemahub-e2e")
    meltano_project.env.update(
        DUMMY_AWS_ENV,
        # What terraform sets on the ECS tasks, plus the endpoint of an S3-compatible store.
        MELTANO_STATE_BACKEND_URI="s3://schemahub-e2e/meltano-state",
        TARGET_S3_PARQUET_OUTPUT_URI="s3://schemahub-e2e/lake",
        TARGET_S3_PARQUET_S3_ENDPOINT_URL=moto_endpoint,
        AWS_ENDPOINT_URL_S3=moto_endpoint,
        # prod's Iceberg catalog is Glue (meltano.yml): moto's, through botocore's variable.
        AWS_ENDPOINT_URL_GLUE=moto_endpoint,
        TAP_COINBASE_PRODUCT_IDS='["BTC-USD"]',
    )
    start = exchanges.coinbase.clock.now() - WINDOW
    set_start_date(meltano_project, start)
    os.environ["AWS_ENDPOINT_URL_GLUE"] = moto_endpoint  # undone by moto_server on exit
    glue = {"type": "glue", "glue.region": "us-east-1"}
    location = {"s3_endpoint_url": moto_endpoint, "iceberg_catalog": glue}
    first = exchanges.coinbase.oracle.id_at_or_after("BTC-USD", start)

    meltano_project.run("run", "ingest-coinbase", environment="prod")
    newest = exchanges.coinbase.oracle.newest_id("BTC-USD")
    expected = truth.coinbase(exchanges.coinbase, "BTC-USD", first, newest)
    assert truth.table("s3://schemahub-e2e/lake", "COINBASE", "BTC-USD", **location) == expected

    # The state lives in the bucket (not in the system database) and holds the watermark.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="schemahub-e2e")["Contents"]]
    state_keys = [k for k in keys if k.startswith("meltano-state/")]
    assert any("prod:tap-coinbase-to-target-s3-parquet" in k for k in state_keys), keys
    # ...and nothing went to the system database.
    systemdb_only = {k: v for k, v in meltano_project.env.items() if "STATE_BACKEND" not in k}
    listed = subprocess.run(
        meltano_project.command("state", "list"),
        cwd=meltano_project.root,
        env=systemdb_only,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Using systemdb state backend" in listed.stderr
    assert listed.stdout.strip() == ""

    exchanges.advance(30)
    meltano_project.run("run", "ingest-coinbase", environment="prod")
    newest_2 = exchanges.coinbase.oracle.newest_id("BTC-USD")
    assert newest_2 > newest
    expected = truth.coinbase(exchanges.coinbase, "BTC-USD", first, newest_2)
    assert truth.table("s3://schemahub-e2e/lake", "COINBASE", "BTC-USD", **location) == expected
    report = check_unified_table("s3://schemahub-e2e/lake", **location)
    assert report.ok, report.problems
    assert report.symbols[0].missing_trade_ids == 0, report.problems
