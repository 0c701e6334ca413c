"""Which trade ids are missing, where, and how to fetch them: shared by `check` and `report`.

Each exchange has a completeness rule (``EXCHANGE_RULES``, the one place to add an exchange):
``dense`` ids count up by one per trade, so every id between two stored ids that is not
stored is a gap; ``sparse`` ids (Kraken) skip numbers by nature, so missing ids are not gaps.

Everything is computed in DuckDB. ``materialise_trade_ids`` makes one pass over the trades
(one row per distinct id, with the number of ids missing just before it, by a window over
trade_id); the gap list, the per-day completeness and the per-symbol figures read that.
"""

from __future__ import annotations

import datetime as dt
import shlex
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from schemahub_core.schema import UNIFIED_TABLE

TRADE_IDS = "trade_ids"  # the temporary table materialise_trade_ids creates


@dataclass(frozen=True)
class ExchangeRule:
    """How to judge the ids of one exchange, and which tap (and setting) refetches a symbol."""

    ids: str  # "dense" (consecutive integers) or "sparse" (missing ids are not gaps)
    tap: str | None = None  # the Meltano extractor that loads this exchange
    symbols_setting: str | None = None  # the tap's setting listing the symbols to read


EXCHANGE_RULES: dict[str, ExchangeRule] = {
    "COINBASE": ExchangeRule("dense", "tap-coinbase", "product_ids"),
    "BINANCE": ExchangeRule("dense", "tap-binance", "symbols"),
    "BINANCEUS": ExchangeRule("dense", "tap-binance", "symbols"),
    "KRAKEN": ExchangeRule("sparse"),
}
DEFAULT_RULE = ExchangeRule("dense")


def rule(exchange: str) -> ExchangeRule:
    """Return the completeness rule of ``exchange`` (dense integer ids unless listed)."""
    return EXCHANGE_RULES.get(exchange, DEFAULT_RULE)


def _sparse_exchanges() -> list[str]:
    return sorted(name for name, r in EXCHANGE_RULES.items() if r.ids == "sparse")


# NULLS LAST keeps the integer ids of a symbol consecutive in the window even when some ids are
# not integers; `gappable` is false for such symbols and for sparse exchanges.
_MATERIALISE_SQL = """
CREATE OR REPLACE TEMP TABLE {trade_ids} AS
WITH per_id AS (
    SELECT exchange, symbol, trade_id, TRY_CAST(trade_id AS BIGINT) AS id,
           count(*) AS n, min(trade_ts) AS first_ts, max(trade_ts) AS last_ts
    FROM {source}
    GROUP BY exchange, symbol, trade_id
), judged AS (
    SELECT *,
           NOT list_contains($sparse, exchange)
           AND bool_and(id IS NOT NULL) OVER (PARTITION BY exchange, symbol) AS gappable,
           id - lag(id) OVER w - 1 AS missing_before,
           lag(first_ts) OVER w AS previous_ts
    FROM per_id
    WINDOW w AS (PARTITION BY exchange, symbol ORDER BY id NULLS LAST)
)
SELECT * REPLACE (CASE WHEN gappable THEN missing_before END AS missing_before)
FROM judged
"""

_GAPS_SQL = f"""
SELECT exchange, symbol,
       id - missing_before AS first_missing_id,
       id - 1 AS last_missing_id,
       missing_before AS missing_ids,
       previous_ts AS window_start,
       first_ts AS window_end
FROM {TRADE_IDS}
WHERE missing_before > 0
ORDER BY missing_ids DESC, exchange, symbol, first_missing_id
"""

# A gap counts against the day of the trade that ends it.
_DAILY_SQL = f"""
SELECT exchange, symbol, CAST(first_ts AS DATE) AS date,
       count(*)::BIGINT AS distinct_trade_ids,
       CASE WHEN bool_and(gappable) THEN coalesce(sum(missing_before), 0) END::BIGINT
           AS missing_trade_ids,
       CASE WHEN bool_and(gappable)
            THEN 100.0 * count(*) / (count(*) + coalesce(sum(missing_before), 0)) END
           AS completeness_percent
FROM {TRADE_IDS}
GROUP BY ALL
ORDER BY exchange, symbol, date
"""


def materialise_trade_ids(
    connection: duckdb.DuckDBPyConnection, source: str = UNIFIED_TABLE
) -> None:
    """Create the temp table ``trade_ids``: one row per distinct id with the gap before it."""
    sql = _MATERIALISE_SQL.format(trade_ids=TRADE_IDS, source=source)
    connection.execute(sql, {"sparse": _sparse_exchanges()})


def gaps(connection: duckdb.DuckDBPyConnection) -> pa.Table:
    """Every gap (id range and the time window it falls in), largest first."""
    return connection.sql(_GAPS_SQL).to_arrow_table()


def daily_completeness(connection: duckdb.DuckDBPyConnection) -> pa.Table:
    """Per (exchange, symbol, UTC day): ids present, ids missing, completeness in percent."""
    return connection.sql(_DAILY_SQL).to_arrow_table()


def backfill_command(exchange: str, symbol: str, start: dt.datetime) -> str | None:
    """The Meltano command refetching ``symbol`` from ``start`` under its own state id.

    None when no tap is known for the exchange. The run reads from ``start`` to the newest
    trade; ids already committed are dropped by the target (docs/operations.md, "Backfill
    after incremental"), so running it fills every gap of the symbol after ``start``.
    """
    exchange_rule = rule(exchange)
    if exchange_rule.tap is None or exchange_rule.symbols_setting is None:
        return None
    prefix = exchange_rule.tap.upper().replace("-", "_")
    start_utc = start.astimezone(dt.UTC).replace(microsecond=0)
    suffix = f"backfill-{symbol.lower()}-{start_utc:%Y%m%dT%H%M%S}"
    symbols = shlex.quote(f'["{symbol}"]')
    return (
        f"{prefix}_START_DATE={start_utc:%Y-%m-%dT%H:%M:%SZ}"
        f" {prefix}_{exchange_rule.symbols_setting.upper()}={symbols}"
        f" meltano run --state-id-suffix {suffix} {exchange_rule.tap} target-s3-parquet"
    )
