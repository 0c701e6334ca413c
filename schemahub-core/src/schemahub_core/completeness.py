"""Which trade ids are missing, where, and how to fetch them: shared by `check` and `report`.

Each exchange has a completeness rule (``EXCHANGE_RULES``, the one place to add an exchange):
``dense`` ids count up by one per trade, so every id between two stored ids that is not
stored is a gap; ``sparse`` ids (Kraken) skip numbers by nature, so missing ids are not gaps.

``materialise_id_days`` reads each symbol's ids and trade times from DuckDB (the only rows
that ever leave it, three columns of one symbol at a time), orders them by trade id in Arrow
(a nearly sorted column: far cheaper than a DuckDB window over the table), notes how many ids
are missing before each row and whether it repeats the previous id, and hands those steps back
to DuckDB, which keeps one row per (exchange, symbol, UTC day) with the counts and the list of
gaps ending that day. The per-symbol figures, the gap list and the per-day completeness read
that small table; no table of all ids is ever stored.
"""

from __future__ import annotations

import datetime as dt
import shlex
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


# One symbol's steps (``_steps``) per UTC day. A gap counts against the day of the trade that
# ends it.
_DAYS_SQL = """
SELECT $exchange AS exchange, $symbol AS symbol, date,
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
              'window_end': trade_ts}}) FILTER (WHERE missing_before > 0) AS gaps,
       $gappable AS gappable
FROM {steps}
GROUP BY date
"""
_STEPS = "id_steps"  # one symbol's steps while _DAYS_SQL reads them
_MICROS_PER_DAY = 86_400_000_000

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


def _shifted(values: pa.Array) -> pa.Array:
    """``values`` moved down by one place, a null first: SQL's ``lag(values)``."""
    kept = values.slice(0, max(len(values) - 1, 0))
    return pa.concat_arrays([pa.nulls(len(values) - len(kept), values.type), kept])


def _steps(rows: pa.Table) -> pa.Table:
    """One symbol's rows (id, trade_id, trade_ts) in id order, with what each row adds.

    Ids that are not integers come last, ordered by their text, so a repeated id is always the
    row after its first. ``missing_before``: ids skipped since the previous row;
    ``repeated``: same trade_id as the previous row; ``first_repeat``: the first such repeat.
    """
    order = pc.sort_indices(rows, [("id", "ascending"), ("trade_id", "ascending")])
    ids, trade_ts = (rows[name].take(order).combine_chunks() for name in ("id", "trade_ts"))
    # Only rows whose id equals the previous one (or both are not integers) can repeat its
    # text: compare the text there alone, not over the whole column.
    numeric = ids.is_valid().to_numpy(zero_copy_only=False)
    values = ids.fill_null(0).to_numpy()
    same_id = np.where(numeric[1:], values[1:] == values[:-1], True) & (numeric[1:] == numeric[:-1])
    rows_at = np.flatnonzero(same_id) + 1
    text = rows["trade_id"]
    same_text = pc.equal(
        text.take(order.take(rows_at)), text.take(order.take(rows_at - 1))
    ).to_numpy(zero_copy_only=False)
    repeated = np.zeros(len(ids), dtype=bool)
    repeated[rows_at[same_text]] = True
    # A repeat of a repeat is not a first repeat: three equal texts in a row.
    first_repeat = repeated & ~np.concatenate([[False], repeated[:-1]])
    micros = trade_ts.cast(pa.int64()).to_numpy()
    return pa.table(
        {
            "date": pa.array((micros // _MICROS_PER_DAY).astype(np.int32), pa.date32()),
            "id": ids,
            "trade_ts": trade_ts,
            "repeated": repeated,
            "first_repeat": first_repeat,
            "missing_before": pc.subtract(pc.subtract(ids, _shifted(ids)), 1),
            "previous_ts": _shifted(trade_ts),
        }
    )


def materialise_id_days(connection: duckdb.DuckDBPyConnection, source: str = UNIFIED_TABLE) -> None:
    """Create the temp table ``id_days``: per symbol and UTC day, id counts, gaps, duplicates."""
    symbols = connection.sql(f"SELECT DISTINCT exchange, symbol FROM {source}").fetchall()
    # No symbol: the table still gets its columns, from the days of no steps.
    create = f"CREATE OR REPLACE TEMP TABLE {ID_DAYS} AS "
    for exchange, symbol in symbols or [("", "")]:
        rows = connection.sql(
            f"SELECT TRY_CAST(trade_id AS BIGINT) AS id, trade_id, trade_ts FROM {source}"
            " WHERE exchange = $exchange AND symbol = $symbol",
            params={"exchange": exchange, "symbol": symbol},
        ).to_arrow_table()
        steps = _steps(rows)
        # Missing ids are gaps only for dense ids, all of them integers.
        gappable = rule(exchange).ids == "dense" and steps["id"].null_count == 0
        connection.register(_STEPS, steps)
        try:
            connection.execute(
                create + _DAYS_SQL.format(steps=_STEPS),
                {"exchange": exchange, "symbol": symbol, "gappable": gappable},
            )
        finally:
            connection.unregister(_STEPS)
        create = f"INSERT INTO {ID_DAYS} "


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
