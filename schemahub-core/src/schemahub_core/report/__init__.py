"""`schemahub report`: one self-contained HTML page of charts over the unified table.

Per exchange and symbol: trades per hour or day with the gaps marked, freshness, VWAP and
volume, completeness per day, ingest history (rows per commit, commit latency) and storage.
Everything is aggregated in DuckDB (``aggregates``) or from file listings (``history``); the
page (``page``) receives a few hundred points per symbol, never the trades.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.compute as pc

from schemahub_core.query import (
    UnifiedTableNotFoundError,
    add_location_arguments,
    connect,
    location_from_args,
)
from schemahub_core.report.aggregates import ReportFilter, aggregate_trades, create_report_view
from schemahub_core.report.history import ingest_history, storage_usage
from schemahub_core.report.page import build_charts, render_page

DEFAULT_OUT = "report.html"


def write_report(
    output_uri: str,
    out: Path,
    where: ReportFilter | None = None,
    **location: Any,
) -> int:
    """Write the report of the table under ``output_uri`` to ``out``; return the chart count.

    ``location``: the keyword arguments of `query.connect` (endpoint, region, format, catalog).
    """
    now = dt.datetime.now(dt.UTC)
    where = where or ReportFilter()
    connection = connect(output_uri, **location)
    try:
        create_report_view(connection, where)
        data = aggregate_trades(connection, now)
    finally:
        connection.close()
    history = ingest_history(output_uri, **location)
    endpoint = {k: location.get(k) for k in ("s3_endpoint_url", "aws_region")}
    storage = storage_usage(output_uri, **endpoint)
    for name, value in (("exchange", where.exchange), ("symbol", where.symbol)):
        if value:
            history = history.filter(pc.equal(history[name], value))
            storage = storage.filter(pc.equal(storage[name], value))
    charts = build_charts(data, history, storage)
    rows = sum(data.freshness["rows"].to_pylist())
    missing = sum(data.gaps["missing_ids"].to_pylist())
    summary = [
        ("output", output_uri),
        ("filter", _describe(where)),
        ("trades", f"{rows:,}"),
        ("symbols", str(data.freshness.num_rows)),
        ("gaps", f"{data.gaps.num_rows:,} ({missing:,} missing trade ids)"),
        ("commits", f"{history.num_rows:,}"),
    ]
    page = render_page("SchemaHub report", summary, charts)
    out.write_text(page, encoding="utf-8")
    return len(charts)


def _describe(where: ReportFilter) -> str:
    parts = [
        f"{name} {value}"
        for name, value in vars(where).items()
        if value is not None and value != ""
    ]
    return ", ".join(parts) or "everything"


def _instant(text: str) -> dt.datetime:
    """Parse a date or ISO date-time; naive values are UTC."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: use a date or ISO date-time, e.g. 2026-11-25 or"
            " 2026-11-25T08:00:00Z"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `schemahub report`."""
    parser.description = (
        "Write one self-contained HTML page of charts over the unified table: trades per"
        " interval with gaps, freshness, VWAP and volume, completeness per day, ingest history"
        " and storage. Opens offline in any browser."
    )
    add_location_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="the HTML file")
    parser.add_argument("--exchange", help="only this exchange, e.g. COINBASE")
    parser.add_argument("--symbol", help="only this symbol, e.g. BTC-USD")
    parser.add_argument("--from", dest="start", type=_instant, help="trades at or after this")
    parser.add_argument("--to", dest="end", type=_instant, help="trades before this")


def run(args: argparse.Namespace) -> int:
    """Run `schemahub report`: 0 written, 2 the table could not be read or the page written."""
    started = time.monotonic()
    where = ReportFilter(args.exchange, args.symbol, args.start, args.end)
    try:
        charts = write_report(
            args.output_uri,
            args.out,
            where,
            **location_from_args(args),
        )
    except (UnifiedTableNotFoundError, ValueError, duckdb.Error, OSError) as exc:
        print(f"schemahub report: cannot write the report: {exc}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    print(f"wrote {args.out} ({charts} charts) in {elapsed:.1f}s; open it in a browser")
    return 0
