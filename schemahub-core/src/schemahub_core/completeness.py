"""Which trade ids are missing, where, and how to fetch them: shared by `check` and `report`.

Each exchange has a completeness rule (``EXCHANGE_RULES``, the one place to add an exchange):
``dense`` ids count up by one per trade, so every id between two stored ids that is not
stored is a gap; ``sparse`` ids (Kraken) skip numbers by nature, so missing ids are not gaps.

Everything is computed in DuckDB, in one pass: ``materialise_id_days`` orders each symbol's
rows by trade id (a window), notes how many ids are missing before each row and whether it
repeats the previous id, and keeps one row per (exchange, symbol, UTC day) with the counts and
the list of gaps ending that day. The per-symbol figures, the gap list and the per-day
completeness read that small table; no table of all ids is ever stored.
"""

from __future__ import annotations

import datetime as dt
import shlex
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from schemahub_core.schema import SPARSE_ID_EXCHANGES, UNIFIED_TABLE

ID_DAYS = "id_days"  # the temporary table materialise_id_days creates


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
    "KRAKEN": ExchangeRule("sparse", "tap-kraken", "pairs"),
}
# The target commits sparse ids by the spans a batch covers (schema.SPARSE_ID_EXCHANGES):
# both must agree on which exchanges are sparse.
assert {e for e, r in EXCHANGE_RULES.items() if r.ids == "sparse"} == SPARSE_ID_EXCHANGES
DEFAULT_RULE = ExchangeRule("dense")


def rule(exchange: str) -> ExchangeRule:
    """Return the completeness rule of ``exchange`` (dense integer ids unless listed)."""
    return EXCHANGE_RULES.get(exchange, DEFAULT_RULE)


def _sparse_exchanges() -> list[str]:
    return sorted(name for name, r in EXCHANGE_RULES.items() if r.ids == "sparse")


# Rows of a symbol in id order (ids that are not integers last, by their text), so a repeated
# id is the row after its first. A gap counts against the day of the trade that ends it.
_MATERIALISE_SQL = """
CREATE OR REPLACE TEMP TABLE {id_days} AS
WITH typed AS (
    SELECT exchange, symbol, trade_id, trade_ts, TRY_CAST(trade_id AS BIGINT) AS id
    FROM {source}
), stepped AS (
    SELECT exchange, symbol, trade_ts, id,
           trade_id = lag(trade_id) OVER w AS repeated,
           trade_id = lag(trade_id) OVER w
               AND trade_id IS DISTINCT FROM lag(trade_id, 2) OVER w AS first_repeat,
           id - lag(id) OVER w - 1 AS missing_before,
           lag(trade_ts) OVER w AS previous_ts
    FROM typed
    WINDOW w AS (PARTITION BY exchange, symbol ORDER BY id NULLS LAST, trade_id)
), days AS (
    SELECT exchange, symbol, CAST(trade_ts AS DATE) AS date,
           count(*)::BIGINT AS rows,
           (count(*) FILTER (WHERE repeated))::BIGINT AS duplicate_rows,
           (count(*) FILTER (WHERE first_repeat))::BIGINT AS duplicate_trade_ids,
           bool_and(id IS NOT NULL) AS ids_numeric,
           min(id) AS min_id, max(id) AS max_id,
           min(trade_ts) AS first_ts, max(trade_ts) AS last_ts,
           coalesce(sum(missing_before) FILTER (WHERE missing_before > 0), 0)::BIGINT
               AS missing_ids,
           list({{'first_missing_id': id - missing_before, 'last_missing_id': id - 1,
                  'missing_ids': missing_before, 'window_start': previous_ts,
                  'window_end': trade_ts}}) FILTER (WHERE missing_before > 0) AS gaps
    FROM stepped
    GROUP BY ALL
)
SELECT *, NOT list_contains($sparse, exchange)
          AND bool_and(ids_numeric) OVER (PARTITION BY exchange, symbol) AS gappable
FROM days
"""

_GAPS_SQL = f"""
SELECT *
FROM (SELECT exchange, symbol, unnest(gaps, recursive := true) FROM {ID_DAYS} WHERE gappable)
ORDER BY missing_ids DESC, exchange, symbol, first_missing_id
"""

_DAILY_SQL = f"""
SELECT exchange, symbol, date,
       rows - duplicate_rows AS distinct_trade_ids,
       CASE WHEN gappable THEN missing_ids END AS missing_trade_ids,
       CASE WHEN gappable
            THEN 100.0 * (rows - duplicate_rows) / (rows - duplicate_rows + missing_ids) END
           AS completeness_percent
FROM {ID_DAYS}
ORDER BY exchange, symbol, date
"""


def materialise_id_days(connection: duckdb.DuckDBPyConnection, source: str = UNIFIED_TABLE) -> None:
    """Create the temp table ``id_days``: per symbol and UTC day, id counts, gaps, duplicates."""
    sql = _MATERIALISE_SQL.format(id_days=ID_DAYS, source=source)
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
