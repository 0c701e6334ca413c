"""`schemahub report`: the page over a table the real target wrote (commit records included)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pyarrow.compute as pc
import pytest
from schemahub_core.cli import main
from schemahub_core.report import write_report
from schemahub_core.report.history import ingest_history, storage_usage
from target_s3_parquet.synthetic import trade_lines
from target_s3_parquet.testing import run_in_process

CHROMIUM = Path("/usr/bin/chromium")  # Debian's, installed by `make browser` (a `make test` step)
# Offline and quiet: no sandbox (root in CI), no GPU, no network of chromium's own.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",  # console messages, uncaught errors included, go to stderr
    "--v=0",
    "--virtual-time-budget=5000",  # let every Plotly.newPlot finish before the DOM is dumped
    "--dump-dom",
]
# One chart per kind, plus one price chart per symbol (two symbols below).
CHART_IDS = [
    "trades",
    "freshness",
    "price-0",
    "price-1",
    "completeness",
    "ingest-rows",
    "ingest-latency",
    "storage-bytes",
    "storage-files",
]


@pytest.fixture(scope="module", params=["iceberg", "hive"])
def lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three commits by the real target: Coinbase 1..1000, then 1200..3000; Binance 1..2000.

    In both table formats: ingest history comes from snapshots (Iceberg) or commit records.
    """
    root = tmp_path_factory.mktemp("lake")
    config = {"output_uri": str(root), "table_format": request.param}
    run_in_process(config, trade_lines("coinbase_trades", "BTC-USD", 1, 1000))
    run_in_process(
        config,
        [
            *trade_lines("coinbase_trades", "BTC-USD", 1200, 3000),
            *trade_lines("binance_trades", "BTCUSDT", 1, 2000),
        ],
    )
    return root


def test_ingest_history_has_one_row_per_commit_record(lake: Path) -> None:
    history = ingest_history(str(lake))
    rows = sorted(
        tuple(r.values()) for r in history.select(["exchange", "symbol", "seq", "rows"]).to_pylist()
    )
    assert rows == [
        ("BINANCE", "BTCUSDT", 1, 2000),
        ("COINBASE", "BTC-USD", 1, 1000),
        ("COINBASE", "BTC-USD", 2, 1801),
    ]
    assert history["committed_at"].type.tz == "UTC"


def test_storage_usage_separates_raw_from_unified_and_counts_files_per_partition(
    lake: Path,
) -> None:
    storage = storage_usage(str(lake))
    by_area = {
        r["area"]: r["bytes_sum"]
        for r in storage.group_by("area").aggregate([("bytes", "sum")]).to_pylist()
    }
    assert by_area["raw"] > 0
    assert by_area["unified"] > 0
    unified = storage.filter(pc.equal(storage["area"], "unified"))
    partitions = sorted(
        tuple(r.values()) for r in unified.select(["exchange", "symbol", "files"]).to_pylist()
    )
    assert partitions == [("BINANCE", "BTCUSDT", 1), ("COINBASE", "BTC-USD", 2)]


def test_report_is_one_offline_page_with_every_chart_and_the_gap(
    lake: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--output-uri", str(lake), "--out", str(out)]) == 0
    assert "9 charts" in capsys.readouterr().out
    page = out.read_text()
    # Self-contained: plotly.js inlined, nothing fetched from anywhere.
    assert "plotly.js v" in page
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", page)
    for chart_id in CHART_IDS:
        assert f'id="{chart_id}"' in page
    assert "BTC-USD: ids 1001..1199 (199 missing)" in page
    assert "1 gaps, 199 missing ids" in page


def test_report_filters_to_one_symbol(lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    argv = ["report", "--output-uri", str(lake), "--out", str(out), "--symbol", "BTCUSDT"]
    assert main(argv) == 0
    page = out.read_text()
    assert 'id="price-0"' in page
    assert 'id="price-1"' not in page
    assert "BINANCE BTCUSDT: price and volume" in page
    assert "COINBASE BTC-USD" not in page


@pytest.mark.slow
# One format: the page is drawn from the aggregates, which the tests above check on both.
@pytest.mark.parametrize("lake", ["hive"], indirect=True)
def test_report_page_draws_every_chart_in_a_headless_browser(lake: Path, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make browser` (as root)"
    page = tmp_path / "report.html"
    write_report(str(lake), page)
    browser = subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    errors = [line for line in browser.stderr.splitlines() if "CONSOLE" in line]
    assert errors == []
    # Each chart's section of the rendered DOM (after the inlined plotly.js in the head).
    sections = {
        re.search(r'<div id="([^"]+)"', section).group(1): section  # type: ignore[union-attr]
        for section in browser.stdout.split("<section>")[1:]
    }
    assert sorted(sections) == sorted(CHART_IDS)
    for chart_id, section in sections.items():
        assert 'class="main-svg"' in section, f"{chart_id} has no plot"
        drawn = 'class="trace' in section or ('class="hm"' in section and "<image" in section)
        assert drawn, f"{chart_id} drew no data"
