"""`schemahub check`: duplicates, gaps, freshness and the health score on known tables."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from schemahub_core.check import check_unified_table, parse_duration
from schemahub_core.cli import main
from schemahub_core.paths import partition_path
from schemahub_core.schema import FILE_SCHEMA

UTC = dt.UTC
# Written once at import: a --max-age given to the CLI must outlast the whole suite (12h).
NOW = dt.datetime.now(UTC).replace(microsecond=0)


def write_trades(
    filesystem: pafs.FileSystem,
    base: str,
    exchange: str,
    symbol: str,
    trade_ids: list[str],
    last_ts: dt.datetime,
    name: str = "part-0.parquet",
) -> None:
    """Write one file of trades one second apart, the last one at ``last_ts``."""
    times = [last_ts - dt.timedelta(seconds=len(trade_ids) - 1 - i) for i in range(len(trade_ids))]
    table = pa.table(
        {
            "base_asset": ["BTC"] * len(trade_ids),
            "quote_asset": ["USD"] * len(trade_ids),
            "trade_id": trade_ids,
            "side": ["SELL"] * len(trade_ids),
            "price": [100.0] * len(trade_ids),
            "quantity": [1.0] * len(trade_ids),
            "trade_ts": times,
            "ingest_ts": [NOW] * len(trade_ids),
        },
        schema=FILE_SCHEMA,
    )
    day = last_ts.date().isoformat()
    partition = partition_path(("exchange", exchange), ("symbol", symbol), ("date", day))
    folder = f"{base}/unified/trades_unified/{partition}"
    filesystem.create_dir(folder, recursive=True)
    pq.write_table(table, f"{folder}/{name}", filesystem=filesystem)


def ids(first: int, last: int) -> list[str]:
    """Trade ids first..last inclusive, as the unified table stores them (strings)."""
    return [str(i) for i in range(first, last + 1)]


def run_check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    """Run `schemahub check --json` in-process; return (exit code, report, stderr)."""
    code = main(["check", "--json", *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def by_symbol(report: dict) -> dict[tuple[str, str], dict]:
    """Index a JSON report's symbol entries by (exchange, symbol)."""
    return {(s["exchange"], s["symbol"]): s for s in report["symbols"]}


def test_clean_table_passes_with_full_score(tmp_path: Path, capsys) -> None:
    fs = pafs.LocalFileSystem()
    write_trades(fs, str(tmp_path), "COINBASE", "BTC-USD", ids(101, 150), NOW)
    write_trades(fs, str(tmp_path), "BINANCE", "BTCUSDT", ids(7, 9), NOW - dt.timedelta(seconds=5))
    code, report, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "12h")
    assert code == 0
    assert report["ok"] is True
    assert report["problems"] == []
    coinbase = by_symbol(report)[("COINBASE", "BTC-USD")]
    assert coinbase["rows"] == 50
    assert coinbase["duplicate_trade_ids"] == 0
    assert coinbase["missing_trade_ids"] == 0
    assert (coinbase["min_trade_id"], coinbase["max_trade_id"]) == (101, 150)
    assert coinbase["first_trade_ts"] == (NOW - dt.timedelta(seconds=49)).isoformat()
    assert coinbase["last_trade_ts"] == NOW.isoformat()
    assert report["health_score"] == 100.0


def test_injected_duplicates_fail_the_check(tmp_path: Path, capsys) -> None:
    fs = pafs.LocalFileSystem()
    write_trades(fs, str(tmp_path), "COINBASE", "BTC-USD", ids(1, 20), NOW)
    # A replay wrote trades 18..20 again in a second file.
    write_trades(fs, str(tmp_path), "COINBASE", "BTC-USD", ids(18, 20), NOW, name="replay.parquet")
    code, report, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "off")
    assert code == 1
    entry = by_symbol(report)[("COINBASE", "BTC-USD")]
    assert entry["rows"] == 23
    assert entry["duplicate_trade_ids"] == 3
    assert entry["duplicate_rows"] == 3
    assert entry["missing_trade_ids"] == 0
    assert entry["health_score"] == pytest.approx(100 * 20 / 23, abs=1e-3)
    assert report["ok"] is False
    assert any("3 trade ids appear more than once" in p for p in report["problems"])


def test_reader_closing_the_pipe_early_ends_quietly_with_exit_141(tmp_path: Path) -> None:
    # `schemahub check --json | head -1`: head exits before the report is written.
    write_trades(pafs.LocalFileSystem(), str(tmp_path), "COINBASE", "BTC-USD", ids(1, 5), NOW)
    schemahub = str(Path(sys.executable).with_name("schemahub"))
    process = subprocess.Popen(
        [schemahub, "check", "--json", "--output-uri", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # the reader is gone before the first byte
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 141
    assert stderr == ""


def test_duplicates_are_counted_per_exchange_and_symbol(tmp_path: Path, capsys) -> None:
    """The same id on two exchanges (separate id spaces) is not a duplicate."""
    fs = pafs.LocalFileSystem()
    write_trades(fs, str(tmp_path), "BINANCE", "BTCUSDT", ids(1, 5), NOW)
    write_trades(fs, str(tmp_path), "BINANCEUS", "BTCUSDT", ids(1, 5), NOW)
    code, report, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "off")
    assert code == 0
    assert [s["duplicate_trade_ids"] for s in report["symbols"]] == [0, 0]


def test_gaps_are_counted_and_lower_the_score_without_failing(tmp_path: Path, capsys) -> None:
    fs = pafs.LocalFileSystem()
    kept = [i for i in ids(1, 10) if i not in ("4", "5")]
    write_trades(fs, str(tmp_path), "COINBASE", "ETH-USD", kept, NOW)
    code, report, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "off")
    assert code == 0
    entry = by_symbol(report)[("COINBASE", "ETH-USD")]
    assert entry["missing_trade_ids"] == 2
    assert entry["missing_percent"] == pytest.approx(20.0)
    assert entry["health_score"] == pytest.approx(80.0)


def test_ids_compare_as_integers_not_strings(tmp_path: Path, capsys) -> None:
    """9 and 10 are adjacent: a string comparison would see "10" < "9" and invent a gap."""
    write_trades(pafs.LocalFileSystem(), str(tmp_path), "COINBASE", "BTC-USD", ids(8, 12), NOW)
    _, report, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "off")
    entry = report["symbols"][0]
    assert (entry["min_trade_id"], entry["max_trade_id"], entry["missing_trade_ids"]) == (8, 12, 0)


def test_kraken_id_gaps_are_not_missing_trades(tmp_path: Path, capsys) -> None:
    """Kraken's ids skip values by design (61044952, 61044953, 61044956 in its docs)."""
    kraken_ids = ["61044952", "61044953", "61044956"]
    write_trades(pafs.LocalFileSystem(), str(tmp_path), "KRAKEN", "XBTUSD", kraken_ids, NOW)
    code, report, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "off")
    assert code == 0
    entry = report["symbols"][0]
    assert (entry["min_trade_id"], entry["max_trade_id"]) == (61044952, 61044956)
    assert entry["missing_trade_ids"] is None
    assert entry["health_score"] == 100.0


def test_non_numeric_ids_report_no_completeness(tmp_path: Path, capsys) -> None:
    write_trades(pafs.LocalFileSystem(), str(tmp_path), "OTHER", "XBTUSD", ["a", "b"], NOW)
    code, report, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "off")
    assert code == 0
    assert report["symbols"][0]["missing_trade_ids"] is None
    assert report["symbols"][0]["health_score"] == 100.0


def test_stale_symbol_fails_and_the_score_decays(tmp_path: Path, capsys) -> None:
    fs = pafs.LocalFileSystem()
    write_trades(fs, str(tmp_path), "COINBASE", "BTC-USD", ids(1, 3), NOW)
    write_trades(fs, str(tmp_path), "BINANCE", "ETHUSDT", ids(1, 3), NOW - dt.timedelta(hours=2))
    report = check_unified_table(str(tmp_path), max_age_seconds=3600, now=NOW)
    stale = {(s.exchange, s.symbol): s for s in report.symbols}[("BINANCE", "ETHUSDT")]
    assert stale.stale
    assert stale.freshness_seconds == 7200
    assert stale.health_score == pytest.approx(50.0)  # twice the threshold halves the score
    assert report.health_score == pytest.approx(50.0)  # the worst symbol sets the overall score
    assert not report.ok
    code, _, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "1h")
    assert code == 1
    code, _, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "3h")
    assert code == 0


def test_text_report_names_the_failure(tmp_path: Path, capsys) -> None:
    fs = pafs.LocalFileSystem()
    write_trades(fs, str(tmp_path), "COINBASE", "BTC-USD", ids(1, 2), NOW)
    write_trades(fs, str(tmp_path), "COINBASE", "BTC-USD", ids(2, 2), NOW, name="again.parquet")
    code = main(["check", "--output-uri", str(tmp_path), "--max-age", "off"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL COINBASE BTC-USD: 1 trade ids appear more than once" in out


def test_missing_table_exits_2(tmp_path: Path, capsys) -> None:
    code = main(["check", "--output-uri", str(tmp_path)])
    assert code == 2
    assert "no unified table" in capsys.readouterr().err


def test_parse_duration() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("45m") == 2700
    assert parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400
    assert parse_duration("off") is None


def test_s3_table_with_duplicates_and_gaps_published_to_cloudwatch(
    moto_endpoint: str, capsys
) -> None:
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket="check-bucket")
    fs = pafs.S3FileSystem(
        endpoint_override=moto_endpoint.removeprefix("http://"), scheme="http", region="us-east-1"
    )
    base = "check-bucket/lake"
    write_trades(fs, base, "COINBASE", "BTC-USD", [i for i in ids(1, 10) if i != "5"], NOW)
    write_trades(fs, base, "COINBASE", "BTC-USD", ["10"], NOW, name="dup.parquet")
    code, report, err = run_check(
        capsys,
        "--output-uri",
        "s3://check-bucket/lake",
        "--s3-endpoint-url",
        moto_endpoint,
        "--max-age",
        "off",
        "--publish-cloudwatch",
        "SchemaHubTest",
        "--cloudwatch-endpoint-url",
        moto_endpoint,
    )
    assert code == 1, err
    entry = report["symbols"][0]
    assert (entry["rows"], entry["duplicate_trade_ids"], entry["missing_trade_ids"]) == (10, 1, 1)
    expected_score = 100 * (9 / 10) * (9 / 10)
    assert report["health_score"] == pytest.approx(expected_score, abs=1e-3)

    cloudwatch = boto3.client("cloudwatch", endpoint_url=moto_endpoint)
    window = {
        "StartTime": dt.datetime.now(UTC) - dt.timedelta(minutes=10),
        "EndTime": dt.datetime.now(UTC) + dt.timedelta(minutes=10),
        "Period": 60,
        "Statistics": ["Maximum"],
    }
    dims = [{"Name": "Exchange", "Value": "COINBASE"}, {"Name": "Symbol", "Value": "BTC-USD"}]

    def maximum(metric: str, dimensions: list[dict[str, str]]) -> float:
        stats = cloudwatch.get_metric_statistics(
            Namespace="SchemaHubTest", MetricName=metric, Dimensions=dimensions, **window
        )
        return max(point["Maximum"] for point in stats["Datapoints"])

    assert maximum("DuplicateTradeIds", dims) == 1
    assert maximum("MissingTradeIds", dims) == 1
    assert maximum("Rows", dims) == 10
    assert maximum("HealthScore", []) == pytest.approx(expected_score, abs=1e-3)


def test_gaps_are_listed_as_id_ranges_and_time_windows_largest_first(
    tmp_path: Path, capsys
) -> None:
    kept = [i for i in ids(1, 30) if not (4 <= int(i) <= 5 or 11 <= int(i) <= 20)]
    write_trades(pafs.LocalFileSystem(), str(tmp_path), "COINBASE", "BTC-USD", kept, NOW)
    code, report, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "off")
    assert code == 0
    # write_trades spaces the stored trades one second apart, the last (id 30) at NOW.
    ts = {
        trade_id: NOW - dt.timedelta(seconds=len(kept) - 1 - k) for k, trade_id in enumerate(kept)
    }
    assert [
        (g["first_missing_id"], g["last_missing_id"], g["missing_ids"]) for g in report["gaps"]
    ] == [(11, 20, 10), (4, 5, 2)]
    largest = report["gaps"][0]
    assert (largest["exchange"], largest["symbol"]) == ("COINBASE", "BTC-USD")
    assert largest["window_start"] == ts["10"].isoformat()
    assert largest["window_end"] == ts["21"].isoformat()


def test_kraken_ids_are_sparse_so_missing_ids_are_not_gaps(tmp_path: Path, capsys) -> None:
    write_trades(pafs.LocalFileSystem(), str(tmp_path), "KRAKEN", "XBTUSD", ["1", "5", "9"], NOW)
    code, report, _ = run_check(
        capsys, "--output-uri", str(tmp_path), "--max-age", "off", "--max-missing-percent", "0"
    )
    assert code == 0
    assert report["gaps"] == []
    assert report["symbols"][0]["missing_trade_ids"] is None
    assert report["symbols"][0]["health_score"] == 100.0


def test_max_missing_percent_makes_the_check_fail(tmp_path: Path, capsys) -> None:
    kept = [i for i in ids(1, 10) if i not in ("4", "5")]  # 20 % missing
    write_trades(pafs.LocalFileSystem(), str(tmp_path), "COINBASE", "ETH-USD", kept, NOW)
    location = ("--output-uri", str(tmp_path), "--max-age", "off")
    code, report, _ = run_check(capsys, *location, "--max-missing-percent", "25")
    assert code == 0
    assert report["ok"] is True
    code, report, _ = run_check(capsys, *location, "--max-missing-percent", "10%")
    assert code == 1
    assert report["problems"] == [
        "COINBASE ETH-USD: 2 trade ids missing (20.000%, limit 10.0%): run the backfill below"
    ]


def test_completeness_is_reported_per_symbol_and_day(tmp_path: Path, capsys) -> None:
    fs = pafs.LocalFileSystem()
    yesterday = NOW - dt.timedelta(days=1)
    write_trades(fs, str(tmp_path), "BINANCE", "BTCUSDT", ids(1, 4), yesterday, name="a.parquet")
    write_trades(fs, str(tmp_path), "BINANCE", "BTCUSDT", ["5", "6", "9", "10"], NOW)
    _, report, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "off")
    days = [(d["date"], d["missing_trade_ids"], d["completeness_percent"]) for d in report["daily"]]
    assert days == [
        (yesterday.date().isoformat(), 0, 100.0),
        (NOW.date().isoformat(), 2, pytest.approx(100 * 4 / 6)),
    ]


def test_text_output_shows_the_worst_gaps_and_the_backfill_that_fills_them(
    tmp_path: Path, capsys
) -> None:
    fs = pafs.LocalFileSystem()
    write_trades(fs, str(tmp_path), "BINANCE", "BTCUSDT", ["1", "2", "7", "8", "10"], NOW)
    code = main(["check", "--output-uri", str(tmp_path), "--max-age", "off"])
    out = capsys.readouterr().out
    assert code == 0
    gap_start = (NOW - dt.timedelta(seconds=3)).replace(tzinfo=None)  # the time of trade 2
    assert "2 gaps, 5 missing trade ids" in out
    assert (
        f"BINANCE BTCUSDT: ids 3..6 (4 missing) between {gap_start.isoformat()}+00:00 and"
    ) in out
    assert (
        f"TAP_BINANCE_START_DATE={gap_start:%Y-%m-%dT%H:%M:%SZ} TAP_BINANCE_SYMBOLS='[\"BTCUSDT\"]'"
        f" meltano run --state-id-suffix backfill-btcusdt-{gap_start:%Y%m%dT%H%M%S}"
        " tap-binance target-s3-parquet"
    ) in out
    assert "OK: no duplicate trade ids, every symbol fresh, 2 gaps" in out


def test_without_output_uri_after_a_demo_check_says_where_the_demo_data_is(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCHEMAHUB_OUTPUT_URI", raising=False)
    write_trades(
        pafs.LocalFileSystem(), str(tmp_path / "output" / "demo"), "BINANCE", "X", ids(1, 2), NOW
    )
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "no unified table" in err
    assert (
        "`make demo` wrote its data to output/demo: schemahub check --output-uri output/demo" in err
    )
    # ... and the command it names works.
    assert main(["check", "--output-uri", "output/demo", "--max-age", "off"]) == 0


@pytest.mark.parametrize("uri", ["s3://b/q?x=1#f", "s3://b//a//b/", "s3://b/../x"])
def test_output_uris_the_target_refuses_are_refused_with_the_same_message(
    uri: str, moto_endpoint: str, capsys
) -> None:
    code = main(["check", "--output-uri", uri, "--s3-endpoint-url", moto_endpoint])
    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot read the unified table: output_uri {uri!r}" in err
    assert "query string or fragment" in err or "'..' path segment" in err


def test_partition_values_read_back_decoded_exactly(tmp_path: Path, capsys) -> None:
    """Folders hold Hive-style %XX (schemahub_core.paths): `%2D` in a symbol is not a '-'."""
    fs = pafs.LocalFileSystem()
    write_trades(fs, str(tmp_path), "COINBASE", "BTC-USD", ids(1, 5), NOW)
    write_trades(fs, str(tmp_path), "COINBASE", "BTC%2DUSD", ids(1, 5), NOW)
    write_trades(fs, str(tmp_path), "COINBASE", "A=B\n", ids(1, 5), NOW)
    code, report, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "off")
    assert code == 0, report["problems"]
    assert sorted(by_symbol(report)) == [
        ("COINBASE", "A=B\n"),
        ("COINBASE", "BTC%2DUSD"),
        ("COINBASE", "BTC-USD"),
    ]


def test_every_gap_and_repeat_is_counted_once_among_a_thousand_ids(tmp_path: Path, capsys) -> None:
    # Gaps of one, two and 64 ids, neighbouring repeats, and an id stored three times.
    missing = {*range(192, 256), 320, 511, 512, 639, 700}
    repeated = [447, 448, 900, 900]
    kept = sorted([i for i in range(1, 1001) if i not in missing] + repeated)
    write_trades(
        pafs.LocalFileSystem(), str(tmp_path), "COINBASE", "BTC-USD", [str(i) for i in kept], NOW
    )
    _, report, _ = run_check(capsys, "--output-uri", str(tmp_path), "--max-age", "off")
    gaps = sorted((g["first_missing_id"], g["last_missing_id"]) for g in report["gaps"])
    assert gaps == [(192, 255), (320, 320), (511, 512), (639, 639), (700, 700)]
    symbol = report["symbols"][0]
    assert symbol["missing_trade_ids"] == len(missing)
    assert symbol["duplicate_trade_ids"] == 3
    assert symbol["duplicate_rows"] == 4
    assert symbol["distinct_trade_ids"] == 1000 - len(missing)
