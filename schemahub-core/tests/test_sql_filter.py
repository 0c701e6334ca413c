"""`sql_filter.row_filter_of`: the WHERE pyiceberg may plan with, and only when it is safe."""

from __future__ import annotations

import pytest
from pyiceberg.expressions import AlwaysTrue
from schemahub_core.sql_filter import row_filter_of


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM candles WHERE symbol = 'A'",  # a view over the table: not read
        "WITH x AS (SELECT * FROM trades_unified) SELECT * FROM x WHERE symbol = 'A'",
        "SELECT * FROM trades_unified WHERE symbol = 'A'"
        " AND trade_id IN (SELECT trade_id FROM trades_unified)",
        "SELECT * FROM trades_unified a JOIN trades_unified b USING (trade_id)"
        " WHERE a.symbol = 'A'",
        "SELECT * FROM trades_unified WHERE symbol = 'A' UNION ALL SELECT * FROM trades_unified",
        "SELECT * FROM trades_unified WHERE date = 'not a date'",
        "SELECT 1; SELECT 2",
        "",
        "SET threads = 1",
    ],
)
def test_sql_it_cannot_read_safely_gives_none(sql):
    assert row_filter_of(sql) is None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM trades_unified",
        "SELECT * FROM trades_unified WHERE symbol = 'A' OR symbol = 'B'",
        "SELECT * FROM trades_unified WHERE NOT symbol = 'A'",
        "SELECT * FROM trades_unified WHERE symbol <> 'A' AND price > 5",
        # a DATE compared with a timestamp is compared as a timestamp: not read as a day
        "SELECT * FROM trades_unified WHERE date < TIMESTAMPTZ '2026-01-01 12:00:00+00'",
    ],
)
def test_conditions_it_does_not_read_leave_the_whole_snapshot(sql):
    assert row_filter_of(sql) == AlwaysTrue()


def test_reads_and_ed_comparisons_of_partition_columns_trade_ts_and_trade_id():
    sql = (
        "SELECT * FROM trades_unified t WHERE t.exchange = 'X' AND symbol IN ('A', 'B')"
        " AND TIMESTAMPTZ '2026-04-13T00:00:00+02:00' <= trade_ts"
        " AND date BETWEEN '2026-04-01' AND DATE '2026-04-30' AND trade_id = '5'"
        " AND date > '2026-04-02' AND price > 1"
    )
    text = repr(row_filter_of(sql))
    for part in (
        "EqualTo(term=Reference(name='exchange'), literal=literal('X'))",
        "In(Reference(name='symbol'), {",
        # 00:00 at +02:00 is 22:00 UTC the day before
        "GreaterThanOrEqual(term=Reference(name='trade_ts'),"
        " literal=literal('2026-04-12T22:00:00+00:00'))",
        # BETWEEN two days: from the first day's start to the last day's end
        "GreaterThanOrEqual(term=Reference(name='trade_ts'),"
        " literal=literal('2026-04-01T00:00:00+00:00'))",
        "LessThan(term=Reference(name='trade_ts'), literal=literal('2026-05-01T00:00:00+00:00'))",
        # date > d: from the start of the next day
        "GreaterThanOrEqual(term=Reference(name='trade_ts'),"
        " literal=literal('2026-04-03T00:00:00+00:00'))",
        "EqualTo(term=Reference(name='trade_id'), literal=literal('5'))",
    ):
        assert part in text
    assert "price" not in text
