"""The row filter pyiceberg can plan with, read from the WHERE clause of a `schemahub query`.

Only the simplest, safe shape is read: one SELECT whose only table anywhere (no CTE, join
or subquery over a table) is ``trades_unified``, and of its WHERE only the top-level AND-ed
comparisons of ``exchange``, ``symbol`` or ``trade_id`` with a string, and of ``trade_ts``
or ``date`` with a constant (``=``, ``<``, ``<=``, ``>``, ``>=``, ``BETWEEN``, ``IN``).
Every other condition is left out, which only widens the filter: pyiceberg then plans a
superset of the files that hold the query's rows, and DuckDB applies the whole WHERE.
Anything else gives None: the caller plans the whole snapshot. The SQL is parsed by DuckDB
itself (``json_serialize_sql``); constants are cast by DuckDB in UTC.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    LessThan,
    LessThanOrEqual,
)

from schemahub_core.schema import UNIFIED_TABLE

STRING_COLUMNS = ("exchange", "symbol", "trade_id")
_FLIPPED = {
    "COMPARE_EQUAL": "COMPARE_EQUAL",
    "COMPARE_LESSTHAN": "COMPARE_GREATERTHAN",
    "COMPARE_LESSTHANOREQUALTO": "COMPARE_GREATERTHANOREQUALTO",
    "COMPARE_GREATERTHAN": "COMPARE_LESSTHAN",
    "COMPARE_GREATERTHANOREQUALTO": "COMPARE_LESSTHANOREQUALTO",
}
# The casts a constant may carry: a date compared with a timestamp is a timestamp compare.
_TIMES = {"DATE", "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"}
_CASTS = {
    "exchange": set(),
    "symbol": set(),
    "trade_id": set(),
    "date": {"DATE"},
    "trade_ts": _TIMES,
}
_PREDICATES: dict[str, Any] = {
    "COMPARE_EQUAL": EqualTo,
    "COMPARE_LESSTHAN": LessThan,
    "COMPARE_LESSTHANOREQUALTO": LessThanOrEqual,
    "COMPARE_GREATERTHAN": GreaterThan,
    "COMPARE_GREATERTHANOREQUALTO": GreaterThanOrEqual,
}


def row_filter_of(sql: str) -> BooleanExpression | None:
    """The pyiceberg row filter implied by ``sql``'s WHERE, or None when it cannot be read."""
    connection = duckdb.connect(":memory:")
    try:
        connection.execute("SET TimeZone = 'UTC'")
        [(text,)] = connection.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
        tree = json.loads(text)
        if tree.get("error") or len(tree.get("statements", [])) != 1:
            return None
        node = tree["statements"][0]["node"]
        source = node.get("from_table") or {}
        if (
            node.get("type") != "SELECT_NODE"
            or node.get("cte_map", {}).get("map")
            or source.get("type") != "BASE_TABLE"
            or source.get("table_name", "").lower() != UNIFIED_TABLE
            or source.get("schema_name")
            or source.get("catalog_name")
            or source.get("at_clause")
            or _count_tables(tree) != 1
        ):
            return None
        names = {UNIFIED_TABLE, (source.get("alias") or UNIFIED_TABLE).lower()}
        where = node.get("where_clause")
        conditions = _conjuncts(where) if where else []
        found = [_predicate(connection, c, names) for c in conditions]
        predicates = [p for p in found if p is not None]
    except (duckdb.Error, KeyError, TypeError, ValueError):
        return None
    finally:
        connection.close()
    result: BooleanExpression = AlwaysTrue()
    for predicate in predicates:
        result = And(result, predicate)
    return result


def _count_tables(value: Any) -> int:
    """How many table references (BASE_TABLE nodes) the parse tree holds, anywhere."""
    if isinstance(value, dict):
        own = 1 if value.get("type") == "BASE_TABLE" else 0
        return own + sum(_count_tables(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_tables(v) for v in value)
    return 0


def _conjuncts(expression: dict[str, Any]) -> list[dict[str, Any]]:
    if expression.get("type") == "CONJUNCTION_AND":
        return [c for child in expression["children"] for c in _conjuncts(child)]
    return [expression]


def _column(expression: dict[str, Any], names: set[str]) -> str | None:
    """The trades_unified column an expression names (`col` or `t.col`), else None."""
    if expression.get("class") != "COLUMN_REF":
        return None
    parts = [part.lower() for part in expression["column_names"]]
    if len(parts) == 2 and parts[0] in names:
        parts = parts[1:]
    return parts[0] if len(parts) == 1 else None


def _constant(
    connection: duckdb.DuckDBPyConnection, expression: dict[str, Any], column: str
) -> Any:
    """The value of a string constant as ``column``'s type, else None.

    The constant may be bare or cast to a type DuckDB compares with the column as the
    column's own value (``DATE '...'``, ``TIMESTAMPTZ '...'``).
    """
    inner = expression
    if inner.get("class") == "CAST":
        if inner.get("try_cast") or inner["type_expr"].get("type_name") not in _CASTS[column]:
            return None
        inner = inner["child"]
    if inner.get("class") != "CONSTANT" or inner["literal"].get("kind") != "STRING":
        return None
    text = inner["literal"]["text"]
    if column in STRING_COLUMNS:
        return text
    kind = "DATE" if column == "date" else "TIMESTAMPTZ"
    [(value,)] = connection.execute(f"SELECT CAST(? AS {kind})", [text]).fetchall()
    return value


def _predicate(
    connection: duckdb.DuckDBPyConnection, condition: dict[str, Any], names: set[str]
) -> BooleanExpression | None:
    """One condition as a pyiceberg predicate, or None when it is not of a shape we read."""
    kind = condition.get("type")
    if kind == "COMPARE_BETWEEN":
        return _between(connection, condition, names)
    if kind == "COMPARE_IN":
        first, *options = condition["children"]
        column = _column(first, names)
        if column not in STRING_COLUMNS:
            return None
        values = [_constant(connection, option, column) for option in options]
        return None if None in values else _make(In, column, set(values))
    if kind not in _PREDICATES:
        return None
    left, right = condition["left"], condition["right"]
    if _column(left, names) is None:
        left, right, kind = right, left, _FLIPPED[kind]
    column = _column(left, names)
    value = None if column is None else _constant(connection, right, column)
    if column is None or value is None:
        return None
    if column in STRING_COLUMNS:
        return _make(EqualTo, column, value) if kind == "COMPARE_EQUAL" else None
    return _on_time(column, kind, value)


def _between(
    connection: duckdb.DuckDBPyConnection, condition: dict[str, Any], names: set[str]
) -> BooleanExpression | None:
    column = _column(condition["input"], names)
    if column not in ("trade_ts", "date"):
        return None
    low = _constant(connection, condition["lower"], column)
    high = _constant(connection, condition["upper"], column)
    if low is None or high is None:
        return None
    return And(
        _on_time(column, "COMPARE_GREATERTHANOREQUALTO", low),
        _on_time(column, "COMPARE_LESSTHANOREQUALTO", high),
    )


def _make(predicate: Any, column: str, value: Any) -> BooleanExpression:
    """``predicate(column, value)``: pyiceberg's classes take both positionally."""
    made: BooleanExpression = predicate(column, value)
    return made


def _on_time(column: str, kind: str, value: Any) -> BooleanExpression:
    """A comparison of trade_ts, or of date (the UTC day of trade_ts) as one of trade_ts."""
    if column == "trade_ts":
        return _make(_PREDICATES[kind], "trade_ts", value.astimezone(dt.UTC).isoformat())
    start = dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    if kind == "COMPARE_EQUAL":
        return And(
            _on_time("trade_ts", "COMPARE_GREATERTHANOREQUALTO", start),
            _on_time("trade_ts", "COMPARE_LESSTHAN", end),
        )
    # date < d: trade_ts before d's start; date <= d: before its end; and so on.
    bound = {
        "COMPARE_LESSTHAN": ("COMPARE_LESSTHAN", start),
        "COMPARE_LESSTHANOREQUALTO": ("COMPARE_LESSTHAN", end),
        "COMPARE_GREATERTHAN": ("COMPARE_GREATERTHANOREQUALTO", end),
        "COMPARE_GREATERTHANOREQUALTO": ("COMPARE_GREATERTHANOREQUALTO", start),
    }
    return _on_time("trade_ts", *bound[kind])
