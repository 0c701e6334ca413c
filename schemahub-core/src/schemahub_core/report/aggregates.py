"""The figures behind `schemahub report`, aggregated in DuckDB: the page never sees a trade.

Every query reads the view ``report_trades`` (trades_unified with the report's filters) or the
per-day id figures of ``completeness.materialise_id_days``; each returns at most one row per
symbol and interval, so the page stays small whatever the table's size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from schemahub_core import completeness
from schemahub_core.schema import UNIFIED_TABLE

REPORT_TRADES = "report_trades"
REPORT_BUCKETS = "report_buckets"  # per symbol, interval and batch: what the bars are made of
# Hourly bars up to this span, daily bars beyond it: a few hundred points per symbol either way.
HOURLY_UP_TO = dt.timedelta(days=14)


@dataclass(frozen=True)
class ReportFilter:
    """Which trades the report covers; None means no restriction."""

    exchange: str | None = None
    symbol: str | None = None
    start: dt.datetime | None = None  # trade_ts >= start
    end: dt.datetime | None = None  # trade_ts < end


@dataclass(frozen=True)
class TradeAggregates:
    """What the page draws from the table itself."""

    interval: str  # "hour" or "day"
    per_interval: pa.Table  # exchange, symbol, bucket, trades, volume, vwap
    freshness: pa.Table  # exchange, symbol, rows, last_trade_ts, age_seconds
    gaps: pa.Table  # completeness.gaps
    daily: pa.Table  # completeness.daily_completeness
    ingest_latency: pa.Table  # exchange, symbol, ingest_ts, rows, latency_seconds


def create_report_view(connection: duckdb.DuckDBPyConnection, where: ReportFilter) -> None:
    """Create the view ``report_trades``: trades_unified restricted to the report's filter."""
    relation = connection.table(UNIFIED_TABLE)
    column, constant = duckdb.ColumnExpression, duckdb.ConstantExpression
    if where.exchange:
        relation = relation.filter(column("exchange") == constant(where.exchange))
    if where.symbol:
        relation = relation.filter(column("symbol") == constant(where.symbol))
    # The `date` conditions let the scan skip whole partitions; trade_ts makes the cut exact.
    if where.start:
        relation = relation.filter(column("date") >= constant(where.start.date()))
        relation = relation.filter(column("trade_ts") >= constant(where.start))
    if where.end:
        relation = relation.filter(column("date") <= constant(where.end.date()))
        relation = relation.filter(column("trade_ts") < constant(where.end))
    relation.create_view(REPORT_TRADES)


def _span(connection: duckdb.DuckDBPyConnection) -> dt.timedelta:
    [(first, last)] = connection.sql(
        f"SELECT min(first_ts), max(last_ts) FROM {completeness.ID_DAYS}"
    ).fetchall()
    return (last - first) if first and last else dt.timedelta(0)


def aggregate_trades(connection: duckdb.DuckDBPyConnection, now: dt.datetime) -> TradeAggregates:
    """Compute every table-based figure of the report from the view ``report_trades``."""
    completeness.materialise_id_days(connection, REPORT_TRADES)
    interval = "hour" if _span(connection) <= HOURLY_UP_TO else "day"
    seconds = 3600 if interval == "hour" else 86400
    # One scan for the bars and the commit latencies: per symbol, interval and batch
    # (ingest_ts is the time a batch was mapped and committed). Integer arithmetic on the
    # epoch: several times cheaper than time_bucket on TIMESTAMPTZ.
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {REPORT_BUCKETS} AS
        SELECT exchange, symbol, epoch_us(trade_ts) // {seconds * 1_000_000} AS bucket_number,
               ingest_ts, count(*)::BIGINT AS trades, sum(quantity) AS volume,
               sum(price * quantity) AS notional, max(trade_ts) AS newest_ts
        FROM {REPORT_TRADES}
        GROUP BY ALL
        """
    )
    per_interval = connection.sql(
        f"""
        SELECT exchange, symbol, to_timestamp(bucket_number * {seconds}) AS bucket,
               sum(trades)::BIGINT AS trades, sum(volume) AS volume,
               sum(notional) / nullif(sum(volume), 0) AS vwap
        FROM {REPORT_BUCKETS}
        GROUP BY ALL ORDER BY ALL
        """
    ).to_arrow_table()
    freshness = connection.sql(
        f"""
        SELECT exchange, symbol, sum(rows)::BIGINT AS rows, max(last_ts) AS last_trade_ts,
               greatest(epoch($now::TIMESTAMPTZ) - epoch(max(last_ts)), 0) AS age_seconds
        FROM {completeness.ID_DAYS}
        GROUP BY exchange, symbol ORDER BY exchange, symbol
        """,
        params={"now": now},
    ).to_arrow_table()
    # A batch's distance from ingest_ts to its newest trade is how far behind the exchange
    # the table was at that commit.
    ingest_latency = connection.sql(
        f"""
        SELECT exchange, symbol, ingest_ts, sum(trades)::BIGINT AS rows,
               epoch(ingest_ts) - epoch(max(newest_ts)) AS latency_seconds
        FROM {REPORT_BUCKETS}
        GROUP BY exchange, symbol, ingest_ts ORDER BY ingest_ts
        """
    ).to_arrow_table()
    return TradeAggregates(
        interval=interval,
        per_interval=per_interval,
        freshness=freshness,
        gaps=completeness.gaps(connection),
        daily=completeness.daily_completeness(connection),
        ingest_latency=ingest_latency,
    )
