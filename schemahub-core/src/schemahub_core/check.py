"""`schemahub check`: a data-quality report over the unified table, per exchange and symbol.

For each (exchange, symbol) it reports rows, first/last trade time, duplicates, completeness
and freshness, plus a health score; the exit status is non-zero when any trade id appears
more than once or the newest trade is older than ``--max-age``.

Health score of one symbol, 0-100 (documented in docs/operations.md):

    100 x completeness x uniqueness x freshness
    completeness = distinct ids / (max id - min id + 1)    (1 when ids are not all integers,
                                                            or are sparse: Kraken)
    uniqueness   = distinct ids / rows                      (1 when no id appears twice)
    freshness    = 1 when age <= max_age, else max_age / age (halves at twice the threshold)

The overall score is the lowest symbol score: one broken symbol makes the table unhealthy.
Everything is computed in DuckDB over the Arrow dataset; nothing loops over trades in Python.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import duckdb

from schemahub_core.query import UnifiedTableNotFoundError, add_location_arguments, connect
from schemahub_core.schema import SPARSE_ID_EXCHANGES, UNIFIED_TABLE

DEFAULT_MAX_AGE = "2h"
# On SPARSE_ID_EXCHANGES an id gap is not a missing trade, so completeness cannot be read
# from ids: it is reported as n/a and counts as 1 (tap-kraken pages by time, each page
# starting at or before the previous one's last trade, so it leaves no time gap).
DEFAULT_NAMESPACE = "SchemaHub"

# One pass over distinct ids per symbol; TRY_CAST tells whether every id is an integer
# (Coinbase, Binance) so that gaps can be counted from the id span.
_REPORT_SQL = f"""
WITH per_id AS (
    SELECT exchange, symbol, trade_id, count(*) AS n,
           min(trade_ts) AS first_ts, max(trade_ts) AS last_ts
    FROM {UNIFIED_TABLE}
    GROUP BY exchange, symbol, trade_id
)
SELECT exchange, symbol,
       sum(n)::BIGINT AS rows,
       count(*)::BIGINT AS distinct_trade_ids,
       (count(*) FILTER (WHERE n > 1))::BIGINT AS duplicate_trade_ids,
       (sum(n) - count(*))::BIGINT AS duplicate_rows,
       min(first_ts) AS first_trade_ts,
       max(last_ts) AS last_trade_ts,
       bool_and(TRY_CAST(trade_id AS BIGINT) IS NOT NULL) AS ids_numeric,
       min(TRY_CAST(trade_id AS BIGINT)) AS min_trade_id,
       max(TRY_CAST(trade_id AS BIGINT)) AS max_trade_id
FROM per_id
GROUP BY exchange, symbol
ORDER BY exchange, symbol
"""


@dataclass
class SymbolReport:
    """Quality figures of one (exchange, symbol) in the unified table."""

    exchange: str
    symbol: str
    rows: int
    distinct_trade_ids: int
    duplicate_trade_ids: int
    duplicate_rows: int
    first_trade_ts: str
    last_trade_ts: str
    min_trade_id: int | None
    max_trade_id: int | None
    missing_trade_ids: int | None
    missing_percent: float | None
    freshness_seconds: float
    stale: bool
    health_score: float


@dataclass
class CheckReport:
    """The whole report: one entry per symbol, the overall score and the failed checks."""

    output_uri: str
    checked_at: str
    max_age_seconds: float | None
    health_score: float
    symbols: list[SymbolReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed (no duplicates, nothing stale, table not empty)."""
        return not self.problems


def parse_duration(text: str) -> float | None:
    """Parse ``90``, ``90s``, ``45m``, ``2h``, ``1d`` to seconds; ``off``/``none`` mean no limit."""
    if text.strip().lower() in ("off", "none", "0"):
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use seconds or a unit, e.g. 90, 45m, 2h, 1d, or 'off'"
        )
    scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return float(match.group(1)) * scale


def _symbol_report(row: dict[str, Any], now: dt.datetime, max_age: float | None) -> SymbolReport:
    """Derive completeness, freshness and the health score of one symbol from its aggregates."""
    rows, distinct = int(row["rows"]), int(row["distinct_trade_ids"])
    missing: int | None = None
    missing_percent: float | None = None
    completeness = 1.0
    if row["ids_numeric"] and row["exchange"] not in SPARSE_ID_EXCHANGES:
        span = int(row["max_trade_id"]) - int(row["min_trade_id"]) + 1
        missing = span - distinct
        missing_percent = 100.0 * missing / span
        completeness = distinct / span
    age = max(0.0, (now - row["last_trade_ts"]).total_seconds())
    stale = max_age is not None and age > max_age
    freshness = max_age / age if (max_age is not None and stale) else 1.0
    score = 100.0 * completeness * (distinct / rows) * freshness
    return SymbolReport(
        exchange=row["exchange"],
        symbol=row["symbol"],
        rows=rows,
        distinct_trade_ids=distinct,
        duplicate_trade_ids=int(row["duplicate_trade_ids"]),
        duplicate_rows=int(row["duplicate_rows"]),
        first_trade_ts=row["first_trade_ts"].isoformat(),
        last_trade_ts=row["last_trade_ts"].isoformat(),
        min_trade_id=row["min_trade_id"] if row["ids_numeric"] else None,
        max_trade_id=row["max_trade_id"] if row["ids_numeric"] else None,
        missing_trade_ids=missing,
        missing_percent=missing_percent,
        freshness_seconds=age,
        stale=stale,
        health_score=round(score, 3),
    )


def check_unified_table(
    output_uri: str,
    *,
    max_age_seconds: float | None = None,
    now: dt.datetime | None = None,
    s3_endpoint_url: str | None = None,
    aws_region: str | None = None,
) -> CheckReport:
    """Compute the quality report of the unified table under ``output_uri``."""
    now = now or dt.datetime.now(dt.UTC)
    connection = connect(output_uri, s3_endpoint_url=s3_endpoint_url, aws_region=aws_region)
    try:
        result = connection.sql(_REPORT_SQL).to_arrow_table().to_pylist()
    finally:
        connection.close()
    symbols = [_symbol_report(row, now, max_age_seconds) for row in result]
    problems: list[str] = []
    if not symbols:
        problems.append(f"the unified table under {output_uri} holds no trades")
    for s in symbols:
        if s.duplicate_trade_ids:
            problems.append(
                f"{s.exchange} {s.symbol}: {s.duplicate_trade_ids} trade ids appear more than"
                f" once ({s.duplicate_rows} extra rows)"
            )
        if s.stale:
            problems.append(
                f"{s.exchange} {s.symbol}: newest trade is {s.freshness_seconds:.0f}s old"
                f" (limit {max_age_seconds:.0f}s): is the schedule running?"
            )
    return CheckReport(
        output_uri=output_uri,
        checked_at=now.isoformat(),
        max_age_seconds=max_age_seconds,
        health_score=min((s.health_score for s in symbols), default=0.0),
        symbols=symbols,
        problems=problems,
    )


def _fmt_missing(s: SymbolReport) -> str:
    """Render missing ids as 'count (pct%)', or 'n/a' when ids are not integers."""
    if s.missing_trade_ids is None or s.missing_percent is None:
        return "n/a"
    return f"{s.missing_trade_ids} ({s.missing_percent:.3f}%)"


def write_text_report(report: CheckReport, out: IO[str]) -> None:
    """Write the report as an aligned table followed by the verdict."""
    header = ["exchange", "symbol", "rows", "first_trade_ts", "last_trade_ts", "dup_ids"]
    header += ["missing_ids", "age_s", "health"]
    lines = [
        [
            *(s.exchange, s.symbol, str(s.rows), s.first_trade_ts, s.last_trade_ts),
            *(str(s.duplicate_trade_ids), _fmt_missing(s), f"{s.freshness_seconds:.0f}"),
            f"{s.health_score:.1f}",
        ]
        for s in report.symbols
    ]
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(header)]
    for line in [header, *lines]:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")
    out.write(f"health score: {report.health_score:.1f}/100\n")
    for problem in report.problems:
        out.write(f"FAIL {problem}\n")
    if report.ok:
        out.write("OK: no duplicate trade ids, every symbol fresh\n")


def cloudwatch_metric_data(report: CheckReport) -> list[dict[str, Any]]:
    """Return the CloudWatch datums of a report: per symbol, plus table-wide aggregates."""
    data: list[dict[str, Any]] = []
    for s in report.symbols:
        dims = [{"Name": "Exchange", "Value": s.exchange}, {"Name": "Symbol", "Value": s.symbol}]
        figures: list[tuple[str, float | None, str]] = [
            ("Rows", s.rows, "Count"),
            ("DuplicateTradeIds", s.duplicate_trade_ids, "Count"),
            ("MissingTradeIds", s.missing_trade_ids, "Count"),
            ("MissingTradeIdsPercent", s.missing_percent, "Percent"),
            ("FreshnessSeconds", s.freshness_seconds, "Seconds"),
            ("HealthScore", s.health_score, "None"),
        ]
        data += [
            {"MetricName": name, "Dimensions": dims, "Value": float(value), "Unit": unit}
            for name, value, unit in figures
            if value is not None
        ]
    # Dimensionless aggregates: what a single alarm watches.
    data.append({"MetricName": "HealthScore", "Value": report.health_score, "Unit": "None"})
    total_dups = sum(s.duplicate_trade_ids for s in report.symbols)
    data.append({"MetricName": "DuplicateTradeIds", "Value": float(total_dups), "Unit": "Count"})
    worst_age = max((s.freshness_seconds for s in report.symbols), default=0.0)
    data.append({"MetricName": "FreshnessSeconds", "Value": worst_age, "Unit": "Seconds"})
    return data


def publish_cloudwatch(
    report: CheckReport,
    namespace: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> int:
    """Put the report's figures into CloudWatch under ``namespace``; return the datum count."""
    import boto3

    client = boto3.client("cloudwatch", endpoint_url=endpoint_url, region_name=region)
    data = cloudwatch_metric_data(report)
    # 20 datums per call works on every CloudWatch API version and on emulators.
    for start in range(0, len(data), 20):
        client.put_metric_data(Namespace=namespace, MetricData=data[start : start + 20])
    return len(data)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `schemahub check`."""
    parser.description = (
        "Data-quality report over the unified table per exchange and symbol. Exit 1 when a"
        " trade id appears more than once or a symbol's newest trade is older than --max-age."
    )
    add_location_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--max-age",
        type=parse_duration,
        default=parse_duration(os.environ.get("SCHEMAHUB_CHECK_MAX_AGE", DEFAULT_MAX_AGE)),
        help="freshness threshold: newest trade per symbol must be younger (e.g. 45m, 2h;"
        f" 'off' disables; default $SCHEMAHUB_CHECK_MAX_AGE or {DEFAULT_MAX_AGE})",
    )
    parser.add_argument(
        "--publish-cloudwatch",
        nargs="?",
        const=DEFAULT_NAMESPACE,
        default=None,
        metavar="NAMESPACE",
        help="also put the figures into CloudWatch under NAMESPACE"
        f" ({DEFAULT_NAMESPACE} when the flag is given alone; default: not published)",
    )
    parser.add_argument(
        "--cloudwatch-endpoint-url",
        default=None,
        help="CloudWatch endpoint override (default: boto3's, which honours $AWS_ENDPOINT_URL)",
    )


def run(args: argparse.Namespace) -> int:
    """Run `schemahub check`: 0 healthy, 1 a check failed, 2 the table could not be read."""
    try:
        report = check_unified_table(
            args.output_uri,
            max_age_seconds=args.max_age,
            s3_endpoint_url=args.s3_endpoint_url,
            aws_region=args.aws_region,
        )
    except (UnifiedTableNotFoundError, ValueError, duckdb.Error, OSError) as exc:
        print(f"schemahub check: cannot read the unified table: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump({**asdict(report), "ok": report.ok}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        write_text_report(report, sys.stdout)
    if args.publish_cloudwatch:
        try:
            count = publish_cloudwatch(
                report,
                args.publish_cloudwatch,
                endpoint_url=args.cloudwatch_endpoint_url,
                region=args.aws_region,
            )
        except Exception as exc:  # boto3 raises many unrelated types; all mean "not published"
            print(f"schemahub check: publishing to CloudWatch failed: {exc}", file=sys.stderr)
            return 2
        print(
            f"published {count} metrics to CloudWatch namespace {args.publish_cloudwatch}",
            file=sys.stderr,
        )
    return 0 if report.ok else 1
