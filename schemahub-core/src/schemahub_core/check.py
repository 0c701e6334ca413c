"""`schemahub check`: a data-quality report over the unified table, per exchange and symbol.

For each (exchange, symbol) it reports rows, first/last trade time, duplicates, completeness
and freshness, plus a health score; it lists every gap (the missing id range and the time
window it falls in, largest first) and the completeness of each day, and says which backfill
fills them. The exit status is non-zero when any trade id appears more than once, the newest
trade is older than ``--max-age`` or more than ``--max-missing-percent`` of the ids are missing.

Health score of one symbol, 0-100 (documented in docs/operations.md):

    100 x completeness x uniqueness x freshness
    completeness = distinct ids / (max id - min id + 1)    (1 when ids are not all integers
                                                            or the exchange's ids are sparse)
    uniqueness   = distinct ids / rows                      (1 when no id appears twice)
    freshness    = 1 when age <= max_age, else max_age / age (halves at twice the threshold)

The overall score is the lowest symbol score: one broken symbol makes the table unhealthy.
Everything is computed in DuckDB and Arrow (columns, not rows); nothing loops over trades in Python.
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

from schemahub_core.completeness import (
    ID_DAYS,
    backfill_command,
    daily_completeness,
    gaps,
    materialise_id_days,
)
from schemahub_core.query import (
    UnifiedTableNotFoundError,
    add_location_arguments,
    connect,
    location_from_args,
)

DEFAULT_MAX_AGE = "2h"
DEFAULT_NAMESPACE = "SchemaHub"
DEMO_OUTPUT = os.path.join("output", "demo")  # where `make demo` writes (meltano.yml, demo env)
WORST_GAPS_SHOWN = 5  # the text output's share; --json lists every gap

# Per symbol, from the per-day figures of completeness.materialise_id_days; missing ids are
# NULL where the exchange's rule (sparse ids) or non-integer ids rule out counting gaps.
_REPORT_SQL = f"""
SELECT exchange, symbol,
       sum(rows)::BIGINT AS rows,
       sum(rows - duplicate_rows)::BIGINT AS distinct_trade_ids,
       sum(duplicate_trade_ids)::BIGINT AS duplicate_trade_ids,
       sum(duplicate_rows)::BIGINT AS duplicate_rows,
       min(first_ts) AS first_trade_ts,
       max(last_ts) AS last_trade_ts,
       bool_and(ids_numeric) AS ids_numeric,
       bool_and(gappable) AS gappable,
       min(min_id) AS min_trade_id,
       max(max_id) AS max_trade_id,
       sum(missing_ids)::BIGINT AS missing_trade_ids
FROM {ID_DAYS}
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
    max_missing_percent: float | None
    health_score: float
    symbols: list[SymbolReport] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)  # largest first
    daily: list[dict[str, Any]] = field(default_factory=list)  # per symbol and UTC day
    backfills: list[str] = field(default_factory=list)  # commands that fill the gaps
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed (no duplicates, nothing stale or too incomplete, not empty)."""
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


def parse_percent(text: str) -> float | None:
    """Parse ``0.5`` or ``0.5%`` to a percentage; ``off``/``none`` mean no limit."""
    if text.strip().lower() in ("off", "none"):
        return None
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(
            f"invalid percentage {text!r}: use a number from 0 to 100, e.g. 0.5, or 'off'"
        )
    return value


def _symbol_report(row: dict[str, Any], now: dt.datetime, max_age: float | None) -> SymbolReport:
    """Derive completeness, freshness and the health score of one symbol from its aggregates."""
    rows, distinct = int(row["rows"]), int(row["distinct_trade_ids"])
    missing: int | None = None
    missing_percent: float | None = None
    completeness = 1.0
    if row["gappable"]:
        missing = int(row["missing_trade_ids"])
        missing_percent = 100.0 * missing / (distinct + missing)
        completeness = distinct / (distinct + missing)
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
    max_missing_percent: float | None = None,
    now: dt.datetime | None = None,
    **location: Any,
) -> CheckReport:
    """Compute the quality report of the unified table under ``output_uri``.

    ``location``: the keyword arguments of `query.connect` (endpoint, region, format, catalog).
    """
    now = now or dt.datetime.now(dt.UTC)
    connection = connect(output_uri, **location)
    try:
        materialise_id_days(connection)
        result = connection.sql(_REPORT_SQL).to_arrow_table().to_pylist()
        gap_rows = gaps(connection).to_pylist()
        daily_rows = daily_completeness(connection).to_pylist()
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
        too_incomplete = max_missing_percent is not None and s.missing_percent is not None
        if too_incomplete and s.missing_percent > max_missing_percent:  # type: ignore[operator]
            problems.append(
                f"{s.exchange} {s.symbol}: {s.missing_trade_ids} trade ids missing"
                f" ({s.missing_percent:.3f}%, limit {max_missing_percent}%): run the backfill below"
            )
    return CheckReport(
        output_uri=output_uri,
        checked_at=now.isoformat(),
        max_age_seconds=max_age_seconds,
        max_missing_percent=max_missing_percent,
        health_score=min((s.health_score for s in symbols), default=0.0),
        symbols=symbols,
        gaps=[_jsonable(g) for g in gap_rows],
        daily=[_jsonable(d) for d in daily_rows],
        backfills=_backfills(gap_rows),
        problems=problems,
    )


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """Dates and times as ISO strings, so that the report dumps to JSON as it is."""
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


def _backfills(gap_rows: list[dict[str, Any]]) -> list[str]:
    """One command per symbol with gaps, starting at its earliest gap (it fills all of them)."""
    earliest: dict[tuple[str, str], dt.datetime] = {}
    for gap in gap_rows:  # one entry per gap, not per trade
        key = (gap["exchange"], gap["symbol"])
        earliest[key] = min(earliest.get(key, gap["window_start"]), gap["window_start"])
    commands = [backfill_command(e, s, start) for (e, s), start in sorted(earliest.items())]
    return [c for c in commands if c]


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
    if report.gaps:
        write_gaps(report, out)
    for problem in report.problems:
        out.write(f"FAIL {problem}\n")
    if report.ok:
        verdict = "no duplicate trade ids, every symbol fresh"
        if report.gaps:
            verdict += f", {len(report.gaps)} gaps (above; no --max-missing-percent limit hit)"
        out.write(f"OK: {verdict}\n")


def write_gaps(report: CheckReport, out: IO[str]) -> None:
    """Write the worst gaps, the least complete days and the commands that fill the gaps."""
    total = sum(g["missing_ids"] for g in report.gaps)
    shown = report.gaps[:WORST_GAPS_SHOWN]
    out.write(
        f"\n{len(report.gaps)} gaps, {total} missing trade ids; largest {len(shown)}"
        " (all of them: --json):\n"
    )
    for g in shown:
        out.write(
            f"  {g['exchange']} {g['symbol']}: ids {g['first_missing_id']}..{g['last_missing_id']}"
            f" ({g['missing_ids']} missing) between {g['window_start']} and {g['window_end']}\n"
        )
    incomplete = [d for d in report.daily if (d["completeness_percent"] or 100.0) < 100.0]
    worst_days = sorted(incomplete, key=lambda d: d["completeness_percent"])[:WORST_GAPS_SHOWN]
    if worst_days:
        out.write("least complete days:\n")
        for d in worst_days:
            out.write(
                f"  {d['exchange']} {d['symbol']} {d['date']}: {d['completeness_percent']:.2f}%"
                f" ({d['missing_trade_ids']} of"
                f" {d['missing_trade_ids'] + d['distinct_trade_ids']} ids missing)\n"
            )
    if report.backfills:
        out.write("to fill them (docs/operations.md, Backfill after incremental):\n")
        for command in report.backfills:
            out.write(f"  {command}\n")
    out.write("\n")


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
        "Data-quality report over the unified table per exchange and symbol, with its gaps and"
        " the backfill that fills them. Exit 1 when a trade id appears more than once, a"
        " symbol's newest trade is older than --max-age or more than --max-missing-percent of"
        " its ids are missing."
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
        "--max-missing-percent",
        type=parse_percent,
        default=parse_percent(os.environ.get("SCHEMAHUB_CHECK_MAX_MISSING_PERCENT", "off")),
        help="completeness threshold: exit 1 when a symbol misses more than this share of its"
        " trade ids (e.g. 0.1; default $SCHEMAHUB_CHECK_MAX_MISSING_PERCENT or off)",
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
            max_missing_percent=args.max_missing_percent,
            **location_from_args(args),
        )
    except (UnifiedTableNotFoundError, ValueError, duckdb.Error, OSError) as exc:
        print(f"schemahub check: cannot read the unified table: {exc}", file=sys.stderr)
        if isinstance(exc, UnifiedTableNotFoundError) and os.path.isdir(DEMO_OUTPUT):
            print(
                f"`make demo` wrote its data to {DEMO_OUTPUT}: schemahub check --output-uri"
                f" {DEMO_OUTPUT}",
                file=sys.stderr,
            )
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
