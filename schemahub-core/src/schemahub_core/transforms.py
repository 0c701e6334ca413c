"""Column transforms of the mapping engine: whole Arrow arrays in, whole Arrow arrays out.

Every transform runs on complete columns with pyarrow.compute; nothing loops over rows in
Python. Invalid input raises `TransformError` naming the transform, the column, the first bad
row and its value. Finding that row is columnar too (`pc.index` over a mask, or bisecting with
the same vectorised kernel), and only happens once a batch has already failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

ArrowColumn: TypeAlias = pa.Array | pa.ChunkedArray

TIMESTAMP_UTC = pa.timestamp("us", tz="UTC")

# RFC 3339 date-time, checked after upper-casing (the RFC allows a lower-case `t` and `z`).
# Arrow's own ISO 8601 parser is more lenient (it takes "T00Z", "+0200", a space separator),
# so the strict shape is checked first; Arrow's cast then rejects impossible field values.
_RFC3339 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
_RFC3339_EXAMPLE = "2024-01-01T00:00:55.41Z or 2024-01-01T01:00:55+01:00"

# Epoch seconds written as a decimal number (Kraken: up to 7 decimals, maybe none).
_DECIMAL_SECONDS = r"^(?P<seconds>[0-9]{1,11})(?:\.(?P<fraction>[0-9]*))?$"

_SIDES_IN = pa.array(["buy", "sell"])
_B_S_IN = pa.array(["b", "s"])
_B_S_SIDE = pa.array(["BUY", "SELL"])
_TAKER_SIDE = pa.array(["SELL", "BUY"])  # the maker bought -> the taker sold, and vice versa


class TransformError(ValueError):
    """A column could not be transformed: wrong Arrow type or an invalid value at some row."""

    def __init__(
        self,
        transform: str,
        column: str,
        problem: str,
        *,
        row: int | None = None,
        value: Any = None,
    ) -> None:
        """Keep transform, column, row and value; the message shows the value (cut to 80 chars)."""
        self.transform = transform
        self.column = column
        self.row = row
        self.value = value
        where = f"column {column!r}" if row is None else f"column {column!r} at row {row}"
        shown = "" if row is None else f": value {_show(value)} "
        super().__init__(f"transform {transform!r} failed on {where}{shown}{problem}")


class Transform(Protocol):
    """A column transform: `transform(values, column="name") -> values`."""

    __name__: str

    def __call__(self, values: ArrowColumn, column: str = ...) -> ArrowColumn:
        """Transform the Arrow column `values`; `column` names it in a `TransformError`."""


def _show(value: Any) -> str:
    text = "null" if value is None else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _require_type(
    values: ArrowColumn,
    transform: str,
    column: str,
    accepted: Callable[[pa.DataType], bool],
    expected: str,
) -> None:
    if not accepted(values.type):
        raise TransformError(
            transform, column, f"has Arrow type {values.type}, but {transform} takes {expected}"
        )


def _reject_nulls(values: ArrowColumn, transform: str, column: str) -> None:
    # Checked before the type: an all-null column has Arrow type `null`, and "the records lack
    # this field" is the useful message then.
    if values.null_count:
        row = pc.index(pc.is_null(values), True).as_py()
        raise TransformError(
            transform,
            column,
            "(trades_unified columns are non-null; the source record lacks this field)",
            row=row,
            value=None,
        )


def _fail_at_first(
    mask_bad: ArrowColumn, values: ArrowColumn, transform: str, column: str, problem: str
) -> None:
    """Raise for the first row where `mask_bad` is true, if any."""
    row = pc.index(mask_bad, True).as_py()
    if row >= 0:
        raise TransformError(transform, column, problem, row=row, value=values[row].as_py())


def _cast_or_locate(
    values: ArrowColumn, target: pa.DataType, transform: str, column: str, problem: str
) -> ArrowColumn:
    """Cast the whole column; if Arrow rejects it, bisect with the same cast to find the row."""
    try:
        return pc.cast(values, target)
    except pa.ArrowInvalid:
        lo, hi = 0, len(values)  # invariant: the first failing row lies in [lo, hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            try:
                pc.cast(values.slice(lo, mid - lo), target)
            except pa.ArrowInvalid:
                hi = mid
            else:
                lo = mid
        raise TransformError(transform, column, problem, row=lo, value=values[lo].as_py()) from None


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_text_or_number(t: pa.DataType) -> bool:
    return _is_text(t) or pa.types.is_integer(t) or pa.types.is_floating(t)


def _is_text_or_integer(t: pa.DataType) -> bool:
    return _is_text(t) or pa.types.is_integer(t)


def to_double(values: ArrowColumn, column: str = "values") -> ArrowColumn:
    """Decimal strings (or numbers) -> float64, the nearest double exactly as float(str) gives."""
    _reject_nulls(values, "to_double", column)
    _require_type(values, "to_double", column, _is_text_or_number, "decimal strings or numbers")
    result = _cast_or_locate(
        values, pa.float64(), "to_double", column, "is not a decimal number (e.g. '63212.97')"
    )
    # NaN or inf anywhere makes the sum non-finite: one cheap reduction instead of a mask.
    # (A finite column whose sum overflows falls through to the exact mask check below.)
    total = pc.sum(result).as_py()
    if total is not None and not (abs(total) < float("inf")):
        _fail_at_first(
            pc.invert(pc.is_finite(result)),
            values,
            "to_double",
            column,
            "is not a finite number (NaN and infinity are not prices or quantities)",
        )
    return result


def to_string(values: ArrowColumn, column: str = "values") -> ArrowColumn:
    """Integers -> their decimal string (trade ids); strings pass through unchanged."""
    _reject_nulls(values, "to_string", column)
    _require_type(values, "to_string", column, _is_text_or_integer, "integers or strings")
    return values if _is_text(values.type) else pc.cast(values, pa.string())


def iso8601(values: ArrowColumn, column: str = "values") -> ArrowColumn:
    """RFC 3339 strings (0-6 fractional digits, `Z` or `±hh:mm`) -> timestamp[us, UTC]."""
    _reject_nulls(values, "iso8601", column)
    _require_type(values, "iso8601", column, _is_text, "RFC 3339 strings")
    normalised = pc.ascii_upper(values)
    shape_ok = pc.match_substring_regex(normalised, _RFC3339)
    _fail_at_first(
        pc.invert(shape_ok),
        values,
        "iso8601",
        column,
        f"is not an RFC 3339 timestamp with 0-6 fractional digits and Z or ±hh:mm offset "
        f"(e.g. {_RFC3339_EXAMPLE})",
    )
    return _cast_or_locate(
        normalised,
        TIMESTAMP_UTC,
        "iso8601",
        column,
        "has an impossible date or time field (month, day, hour, minute or second out of range)",
    )


def _from_epoch(values: ArrowColumn, column: str, transform: str, factor: int) -> ArrowColumn:
    _reject_nulls(values, transform, column)
    _require_type(values, transform, column, pa.types.is_integer, "integer epoch values")
    as_int64 = pc.cast(values, pa.int64())
    try:
        micros = pc.multiply_checked(as_int64, factor) if factor != 1 else as_int64
    except pa.ArrowInvalid:
        _fail_at_first(
            pc.greater(pc.abs(as_int64), (2**63 - 1) // factor),
            values,
            transform,
            column,
            "overflows a microsecond timestamp",
        )
        raise
    return pc.cast(micros, TIMESTAMP_UTC)


def from_ms(values: ArrowColumn, column: str = "values") -> ArrowColumn:
    """Integer epoch milliseconds -> timestamp[us, UTC]."""
    return _from_epoch(values, column, "from_ms", 1000)


def from_us(values: ArrowColumn, column: str = "values") -> ArrowColumn:
    """Integer epoch microseconds -> timestamp[us, UTC]."""
    return _from_epoch(values, column, "from_us", 1)


def from_decimal_seconds(values: ArrowColumn, column: str = "values") -> ArrowColumn:
    """Epoch seconds as decimal text (`1688669597.8277369`) -> timestamp[us, UTC].

    Digits below the microsecond are cut off, never rounded: rounding could move a trade into
    the next second, or the next day's partition, and no trade is ever later than it says.
    """
    _reject_nulls(values, "from_decimal_seconds", column)
    _require_type(values, "from_decimal_seconds", column, _is_text, "decimal strings of seconds")
    shape_ok = pc.match_substring_regex(values, _DECIMAL_SECONDS)
    _fail_at_first(
        pc.invert(shape_ok),
        values,
        "from_decimal_seconds",
        column,
        "is not epoch seconds written as digits with an optional fraction "
        "(e.g. 1688669597.8277369)",
    )
    parts = pc.extract_regex(values, _DECIMAL_SECONDS)
    seconds = pc.cast(pc.struct_field(parts, "seconds"), pa.int64())
    micros = pc.utf8_slice_codeunits(pc.utf8_rpad(pc.struct_field(parts, "fraction"), 6, "0"), 0, 6)
    total = pc.add(pc.multiply(seconds, 1_000_000), pc.cast(micros, pa.int64()))
    return pc.cast(total, TIMESTAMP_UTC)


def upper(values: ArrowColumn, column: str = "values") -> ArrowColumn:
    """Strings -> upper case (Unicode-aware)."""
    _reject_nulls(values, "upper", column)
    _require_type(values, "upper", column, _is_text, "strings")
    return pc.utf8_upper(values)


def invert_side(values: ArrowColumn, column: str = "values") -> ArrowColumn:
    """Coinbase maker side `buy`/`sell` (any case) -> taker side `SELL`/`BUY`."""
    _reject_nulls(values, "invert_side", column)
    _require_type(values, "invert_side", column, _is_text, "the strings 'buy' or 'sell'")
    # ASCII lower-casing suffices: no non-ASCII character lower-cases into "buy" or "sell".
    positions = pc.index_in(pc.ascii_lower(values), value_set=_SIDES_IN)
    result = pc.take(_TAKER_SIDE, positions)
    if result.null_count:
        _fail_at_first(
            pc.is_null(result),
            values,
            "invert_side",
            column,
            "is not a maker side (allowed: 'buy' or 'sell', any case)",
        )
    return result


def side_from_is_buyer_maker(values: ArrowColumn, column: str = "values") -> ArrowColumn:
    """Binance `isBuyerMaker` -> taker side: true (the taker sold) -> SELL, false -> BUY."""
    _reject_nulls(values, "side_from_is_buyer_maker", column)
    _require_type(values, "side_from_is_buyer_maker", column, pa.types.is_boolean, "booleans")
    return pc.if_else(values, "SELL", "BUY")


def side_from_b_s(values: ArrowColumn, column: str = "values") -> ArrowColumn:
    """Kraken's taker side `b` (bought) / `s` (sold) -> `BUY` / `SELL`."""
    _reject_nulls(values, "side_from_b_s", column)
    _require_type(values, "side_from_b_s", column, _is_text, "the strings 'b' or 's'")
    result = pc.take(_B_S_SIDE, pc.index_in(values, value_set=_B_S_IN))
    if result.null_count:
        _fail_at_first(
            pc.is_null(result),
            values,
            "side_from_b_s",
            column,
            "is not a Kraken taker side (allowed: 'b' or 's')",
        )
    return result


# What each transform returns, for "add a transform producing <type>" hints in the engine.
OUTPUT_TYPES: dict[str, pa.DataType] = {
    "to_double": pa.float64(),
    "to_string": pa.string(),
    "iso8601": TIMESTAMP_UTC,
    "from_ms": TIMESTAMP_UTC,
    "from_us": TIMESTAMP_UTC,
    "from_decimal_seconds": TIMESTAMP_UTC,
    "upper": pa.string(),
    "invert_side": pa.string(),
    "side_from_is_buyer_maker": pa.string(),
    "side_from_b_s": pa.string(),
}

TRANSFORMS: dict[str, Transform] = {
    t.__name__: t
    for t in (
        to_double,
        to_string,
        iso8601,
        from_ms,
        from_us,
        from_decimal_seconds,
        upper,
        invert_side,
        side_from_is_buyer_maker,
        side_from_b_s,
    )
}
