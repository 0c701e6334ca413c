"""Which parts of a stream's JSON schema are checked in bulk on Arrow, and the bulk checks.

singer-sdk validates each record with jsonschema. For the keywords whose meaning Arrow
kernels reproduce exactly on a typed column, this target checks a whole batch at once:
`type` (the explicit-schema JSON parse), `required`, `minimum`/`maximum`/`exclusiveMinimum`/
`exclusiveMaximum` (numbers), `minLength`/`maxLength` (code points, as Python's `len`),
`enum` of strings and `additionalProperties: false` (the parse refuses unknown fields).
A stream whose SCHEMA uses anything else (`pattern`: Arrow's RE2 is not Python's `re`;
`multipleOf`: float remainders; unions, nested objects, arrays, `$ref`, ...) is not `flat`:
its records are checked one by one with singer-sdk's own validator.

The bulk checks only pick out rows that *may* be invalid (a null can be an absent property
or an explicit null, which jsonschema tells apart); those rows are then checked one by one
with the SDK's validator, so the decision is always the SDK's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_SCALARS = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
}
# Keywords with no effect on validation as singer-sdk runs it (formats are not checked).
_ANNOTATIONS = {
    "title",
    "description",
    "default",
    "examples",
    "$comment",
    "readOnly",
    "writeOnly",
    "deprecated",
    "format",
    "contentEncoding",
    "contentMediaType",
}
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_COLUMN_KEYWORDS = {"type", *_BOUNDS, "minLength", "maxLength", "enum", *_ANNOTATIONS}
_TOP_KEYWORDS = {"type", "properties", "required", "additionalProperties", "$schema", "$id"}


@dataclass(frozen=True)
class ColumnRule:
    """The bulk checks of one scalar property."""

    name: str
    null_ok: bool  # an explicit null passes `type` and `enum`
    absent_ok: bool  # not in `required`
    bounds: tuple[tuple[str, int | float], ...] = ()  # (keyword, limit), the column's type
    min_length: int | None = None
    max_length: int | None = None
    enum: tuple[str, ...] | None = None  # the non-null values of a string enum


@dataclass(frozen=True)
class StreamShape:
    """What bulk validation needs to know about one stream's JSON schema."""

    arrow_schema: pa.Schema  # the scalar top-level properties, as Arrow checks them
    required: tuple[str, ...]
    key_properties: tuple[str, ...]
    flat: bool  # every keyword is checked in bulk: no per-record validation needed
    closed: bool = False  # additionalProperties: false
    rules: tuple[ColumnRule, ...] = ()


def stream_shape(json_schema: dict[str, Any], key_properties: Sequence[str]) -> StreamShape:
    """Derive the Arrow schema and bulk checks for a stream from its SCHEMA message."""
    properties = json_schema.get("properties") or {}
    required = tuple(json_schema.get("required") or ())
    fields = []
    rules = []
    flat = set(json_schema) <= _TOP_KEYWORDS | _ANNOTATIONS and json_schema.get("type") in (
        None,
        "object",
        ["object"],
    )
    flat = flat and set(required) <= set(properties)
    closed = json_schema.get("additionalProperties", True)
    flat = flat and isinstance(closed, bool)
    for name, spec in properties.items():
        arrow_type = _scalar_type(spec)
        if arrow_type is None:
            flat = False
            continue
        fields.append(pa.field(name, arrow_type))
        rule = _column_rule(name, spec, arrow_type, name not in required)
        if rule is None:
            flat = False
        else:
            rules.append(rule)
    flat = flat and set(key_properties or ()) <= {field.name for field in fields}
    return StreamShape(
        pa.schema(fields),
        required,
        tuple(key_properties or ()),
        flat,
        closed=closed is False,
        rules=tuple(rules),
    )


def _scalar_type(spec: Any) -> pa.DataType | None:
    if not isinstance(spec, dict) or any(k in spec for k in ("anyOf", "oneOf", "allOf")):
        return None
    declared = spec.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    non_null = [t for t in types if t != "null"]
    if len(non_null) != 1:
        return None
    return _SCALARS.get(non_null[0])


def _column_rule(
    name: str, spec: dict[str, Any], arrow_type: pa.DataType, absent_ok: bool
) -> ColumnRule | None:
    """The bulk checks of a scalar property; None if it uses a keyword Arrow cannot mirror."""
    if not set(spec) <= _COLUMN_KEYWORDS:
        return None
    numeric = pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
    is_string = pa.types.is_string(arrow_type)
    bounds: list[tuple[str, int | float]] = []
    for keyword in _BOUNDS:
        limit = spec.get(keyword)
        if limit is None:
            continue
        if isinstance(limit, bool) or not isinstance(limit, (int, float)):
            return None
        if abs(limit) >= 2**53:  # a float64 column's values near it may have been rounded
            return None
        if pa.types.is_integer(arrow_type):  # the same bound as an integer: compared exactly
            rounded = math.ceil if keyword in ("minimum", "exclusiveMaximum") else math.floor
            bounds.append((keyword, rounded(limit)))
        elif numeric:  # jsonschema applies bounds to numbers only
            bounds.append((keyword, float(limit)))
    lengths = [spec.get("minLength"), spec.get("maxLength")]
    if any(n is not None and (isinstance(n, bool) or not isinstance(n, int)) for n in lengths):
        return None
    if not is_string:  # jsonschema applies lengths to strings only
        lengths = [None, None]
    types = spec.get("type")
    null_ok = "null" in ([types] if isinstance(types, str) else list(types or []))
    enum = spec.get("enum")
    if enum is not None:
        if not is_string or not isinstance(enum, list):
            return None
        if not all(value is None or isinstance(value, str) for value in enum):
            return None
        null_ok = null_ok and None in enum
        enum = tuple(value for value in enum if value is not None)
    return ColumnRule(name, null_ok, absent_ok, tuple(bounds), lengths[0], lengths[1], enum)


_COMPARE = {
    "minimum": pc.less,
    "maximum": pc.greater,
    "exclusiveMinimum": pc.less_equal,
    "exclusiveMaximum": pc.greater_equal,
}


def suspect_rows(table: pa.Table, shape: StreamShape) -> list[int]:
    """Rows that may break the bulk-checked keywords (a superset of the invalid ones).

    A null in a column is both an absent property and an explicit null; unless both pass
    (a nullable, optional property), its rows are suspects for the exact check.
    """
    masks = [
        mask
        for rule in shape.rules
        for _, mask in _rule_masks(table, rule, nulls=not (rule.null_ok and rule.absent_ok))
    ]
    if not masks:
        return []
    suspect = masks[0]
    for mask in masks[1:]:
        suspect = pc.or_kleene(suspect, mask)
    suspect = pc.fill_null(suspect, False)
    return pc.indices_nonzero(suspect).to_pylist()


def first_violation(table: pa.Table, shape: StreamShape) -> tuple[int, str, str] | None:
    """The first (row, field, keyword) breaking a bulk-checked keyword, for columnar input.

    For a batch file, where a null cannot tell an absent property from an explicit null:
    a null passes when either would (the property is nullable or optional), so nothing the
    SDK's validator might accept is refused.
    """
    first: tuple[int, str, str] | None = None
    for rule in shape.rules:
        nulls = not (rule.null_ok or rule.absent_ok)
        for keyword, mask in _rule_masks(table, rule, nulls=nulls):
            hits = pc.indices_nonzero(pc.fill_null(mask, False))
            if len(hits) and (first is None or hits[0].as_py() < first[0]):
                first = (hits[0].as_py(), rule.name, keyword)
    return first


def _rule_masks(
    table: pa.Table, rule: ColumnRule, *, nulls: bool
) -> list[tuple[str, pa.ChunkedArray]]:
    """(keyword, mask of the rows that may break it) for one column; `nulls`: nulls may."""
    column = table.column(rule.name)
    masks = []
    if nulls and column.null_count:
        masks.append(("type" if rule.absent_ok else "required", pc.is_null(column)))
    for keyword, limit in rule.bounds:
        masks.append((keyword, _COMPARE[keyword](column, limit)))
    if rule.min_length is not None or rule.max_length is not None:
        length = pc.utf8_length(column)
        if rule.min_length is not None:
            masks.append(("minLength", pc.less(length, rule.min_length)))
        if rule.max_length is not None:
            masks.append(("maxLength", pc.greater(length, rule.max_length)))
    if rule.enum is not None:
        outside = pc.invert(pc.is_in(column, pa.array(rule.enum, pa.string())))
        masks.append(("enum", pc.and_(pc.is_valid(column), outside)))  # nulls: the rule above
    return masks


def missing_keys(table: pa.Table, shape: StreamShape) -> list[tuple[int, str]]:
    """Rows where a key property is absent or null (each trade needs its key)."""
    problems: list[tuple[int, str]] = []
    for name in shape.key_properties:
        if name not in table.column_names:
            continue  # not a scalar column: checked one by one
        column = table.column(name)
        if column.null_count:
            for row in pc.indices_nonzero(pc.is_null(column)).to_pylist():
                problems.append((row, f"key property {name!r} is missing or null"))
    return sorted(problems)
