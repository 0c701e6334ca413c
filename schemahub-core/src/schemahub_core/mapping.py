"""The mapping engine: one YAML file per source stream turns its records into `trades_unified`.

A mapping file (see `mappings/*.yaml` at the repository root and the package README)::

    source_stream: coinbase_trades
    target_table: trades_unified
    columns:
      exchange: {constant: COINBASE}
      symbol: {from: product_id}
      side: {from: side, transform: invert_side}   # or a list, applied in order
      ...

Every unified column except `ingest_ts` must be mapped exactly once; `ingest_ts` is filled by
the engine with the commit time. `Mapping.apply` turns an Arrow table of source records into a
table of exactly `UNIFIED_SCHEMA`, column by column with pyarrow.compute.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from schemahub_core.schema import UNIFIED_SCHEMA, UNIFIED_TABLE
from schemahub_core.transforms import OUTPUT_TYPES, TRANSFORMS, ArrowColumn, TransformError

ENGINE_FILLED = "ingest_ts"  # the commit time; a mapping file may not set it
MAPPABLE_COLUMNS = tuple(f.name for f in UNIFIED_SCHEMA if f.name != ENGINE_FILLED)
_TOP_LEVEL_KEYS = {
    "source_stream": "required",
    "target_table": "required",
    "columns": "required",
    "description": "optional",
}
_RULE_KEYS = ("from", "transform", "constant")


class MappingError(ValueError):
    """A mapping file is invalid: names the file, the key, what is wrong and what is allowed."""

    def __init__(self, path: Path | str, key: str | None, problem: str) -> None:
        """Keep the file and key for callers; the message names both and the problem."""
        self.path = Path(path)
        self.key = key
        where = f"{path}" if key is None else f"{path}: key {key!r}"
        super().__init__(f"mapping file {where}: {problem}")


class SourceDataError(ValueError):
    """Records of a source stream cannot be mapped: a missing column, wrong type or bad value.

    `row` is the index of the first bad record in the table given to `apply` (None when the
    whole column is wrong), so a caller can point at the input line it came from.
    """

    def __init__(
        self, message: str, *, stream: str, column: str | None = None, row: int | None = None
    ) -> None:
        """Keep `stream`, `column` and `row` so a caller can point at the bad input line."""
        super().__init__(message)
        self.stream = stream
        self.column = column
        self.row = row


@dataclass(frozen=True)
class ColumnRule:
    """How one unified column is produced: a source column through transforms, or a constant."""

    target: str
    source: str | None = None
    transforms: tuple[str, ...] = ()
    constant: Any = None


@dataclass(frozen=True)
class Mapping:
    """One validated mapping file: source stream -> `trades_unified`."""

    path: Path
    source_stream: str
    target_table: str
    rules: tuple[ColumnRule, ...]  # in UNIFIED_SCHEMA order, without ingest_ts

    @property
    def source_columns(self) -> tuple[str, ...]:
        """The source record fields this mapping reads, in unified-column order, no repeats."""
        return tuple(dict.fromkeys(r.source for r in self.rules if r.source is not None))

    def apply(self, table: pa.Table, ingest_ts: datetime | None = None) -> pa.Table:
        """Map a table of source records to a table of exactly `UNIFIED_SCHEMA`.

        `ingest_ts` (time-zone aware; default: now) fills the `ingest_ts` column of every row.
        Raises `SourceDataError` naming the stream, the column, and the first bad row.
        """
        ingest = _ingest_scalar(ingest_ts)
        if table.num_rows == 0:
            return UNIFIED_SCHEMA.empty_table()
        missing = [c for c in self.source_columns if c not in table.column_names]
        if missing:
            raise SourceDataError(
                f"stream {self.source_stream!r}: the records lack field(s) {missing} that mapping "
                f"{self.path} reads; fields present: {sorted(table.column_names)}. Fix the tap "
                f"output or the mapping's `from:` keys.",
                stream=self.source_stream,
            )
        columns: list[ArrowColumn] = []
        for field in UNIFIED_SCHEMA:
            if field.name == ENGINE_FILLED:
                columns.append(pa.repeat(ingest, table.num_rows))
                continue
            rule = next(r for r in self.rules if r.target == field.name)
            columns.append(self._column(rule, field, table))
        return pa.Table.from_arrays(columns, schema=UNIFIED_SCHEMA)

    def _column(self, rule: ColumnRule, field: pa.Field, table: pa.Table) -> ArrowColumn:
        if rule.source is None:
            return pa.repeat(pa.scalar(rule.constant, field.type), table.num_rows)
        values = table.column(rule.source)
        if pa.types.is_dictionary(values.type):  # e.g. constant columns: the values they stand for
            values = values.cast(values.type.value_type)
        context = f"stream {self.source_stream!r} (mapping {self.path}), column {field.name!r}"
        for name in rule.transforms:
            try:
                values = TRANSFORMS[name](values, column=rule.source)
            except TransformError as exc:
                raise SourceDataError(
                    f"{context}: {exc}", stream=self.source_stream, column=field.name, row=exc.row
                ) from exc
        if values.null_count:
            row = pc.index(pc.is_null(values), True).as_py()
            raise SourceDataError(
                f"{context}: field {rule.source!r} is null at row {row}; {UNIFIED_TABLE} columns "
                f"are non-null, so every record must carry {rule.source!r}.",
                stream=self.source_stream,
                column=field.name,
                row=row,
            )
        if values.type != field.type:
            if _is_text(values.type) and _is_text(field.type):
                values = values.cast(field.type)
            else:
                producers = [n for n, t in OUTPUT_TYPES.items() if t == field.type]
                raise SourceDataError(
                    f"{context}: field {rule.source!r} is {values.type} after transforms "
                    f"{list(rule.transforms)}, but {UNIFIED_TABLE}.{field.name} is {field.type}; "
                    f"add a transform producing {field.type} (one of {producers}).",
                    stream=self.source_stream,
                    column=field.name,
                )
        return values


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _ingest_scalar(ingest_ts: datetime | None) -> pa.Scalar:
    if ingest_ts is None:
        ingest_ts = datetime.now(UTC)
    elif ingest_ts.tzinfo is None:
        raise ValueError(
            f"ingest_ts {ingest_ts.isoformat()} has no time zone; pass an aware datetime "
            f"(e.g. datetime.now(timezone.utc)) so that it is stored as the right UTC instant"
        )
    return pa.scalar(ingest_ts, pa.timestamp("us", tz="UTC"))


def load_mapping(path: Path | str) -> Mapping:
    """Read and validate one mapping YAML file; raise `MappingError` on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(path, None, f"cannot be read ({exc.strerror or exc})") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise MappingError(path, None, f"is not valid YAML{line}: {problem}") from exc
    return _parse(path, document)


def _parse(path: Path, document: Any) -> Mapping:
    _check_top_level(path, document)
    source_stream = document["source_stream"]
    if not isinstance(source_stream, str) or not source_stream:
        raise MappingError(path, "source_stream", "must be a non-empty string (the stream name)")
    if document["target_table"] != UNIFIED_TABLE:
        raise MappingError(
            path,
            "target_table",
            f"is {document['target_table']!r}; the only allowed target table is {UNIFIED_TABLE!r}",
        )
    columns = document["columns"]
    _check_columns(path, columns)
    rules = tuple(_parse_rule(path, UNIFIED_SCHEMA.field(c), columns[c]) for c in MAPPABLE_COLUMNS)
    return Mapping(path, source_stream, UNIFIED_TABLE, rules)


def _check_top_level(path: Path, document: Any) -> None:
    """The document is a YAML mapping with the required top-level keys and no others."""
    if not isinstance(document, dict):
        raise MappingError(
            path,
            None,
            f"must be a YAML mapping with keys {sorted(_TOP_LEVEL_KEYS)}, "
            f"got {type(document).__name__}",
        )
    for key in document:
        if key not in _TOP_LEVEL_KEYS:
            raise MappingError(
                path, str(key), f"unknown top-level key; allowed: {sorted(_TOP_LEVEL_KEYS)}"
            )
    for key, need in _TOP_LEVEL_KEYS.items():
        if need == "required" and key not in document:
            raise MappingError(path, key, "is missing; it is required")


def _check_columns(path: Path, columns: Any) -> None:
    """`columns` maps every mappable unified column, and nothing else."""
    if not isinstance(columns, dict):
        raise MappingError(
            path, "columns", "must map unified column names to {from: ...} or {constant: ...}"
        )
    for name in columns:
        if name == ENGINE_FILLED:
            raise MappingError(
                path,
                f"columns.{name}",
                "is filled by the engine with the commit time and may not be mapped; remove it",
            )
        if name not in MAPPABLE_COLUMNS:
            raise MappingError(
                path,
                f"columns.{name}",
                f"is not a column of {UNIFIED_TABLE}; allowed: {list(MAPPABLE_COLUMNS)}",
            )
    absent = [c for c in MAPPABLE_COLUMNS if c not in columns]
    if absent:
        raise MappingError(
            path,
            "columns",
            f"lacks unified column(s) {absent}; every one of "
            f"{list(MAPPABLE_COLUMNS)} must be mapped",
        )


def _parse_rule(path: Path, field: pa.Field, spec: Any) -> ColumnRule:
    key = f"columns.{field.name}"
    if not isinstance(spec, dict):
        raise MappingError(
            path, key, "must be {from: <source field>, transform: ...} or {constant: <value>}"
        )
    unknown = [k for k in spec if k not in _RULE_KEYS]
    if unknown:
        raise MappingError(path, f"{key}.{unknown[0]}", f"unknown key; allowed: {list(_RULE_KEYS)}")
    if "from" in spec and "constant" in spec:
        raise MappingError(path, key, "has both `from` and `constant`; give exactly one of them")
    if "constant" in spec:
        if "transform" in spec:
            raise MappingError(
                path, f"{key}.transform", "only applies to `from`; write the constant as stored"
            )
        return ColumnRule(field.name, constant=_parse_constant(path, key, field, spec["constant"]))
    if "from" not in spec:
        raise MappingError(path, key, "needs `from: <source field>` or `constant: <value>`")
    source = spec["from"]
    if not isinstance(source, str) or not source:
        raise MappingError(path, f"{key}.from", "must be a source field name (a string)")
    names = _parse_transforms(path, key, spec.get("transform", []))
    return ColumnRule(field.name, source=source, transforms=names)


def _parse_transforms(path: Path, key: str, raw: Any) -> tuple[str, ...]:
    """A rule's `transform`: one known transform name or a list of them."""
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise MappingError(path, f"{key}.transform", "must be a transform name or a list of them")
    for name in names:
        if name not in TRANSFORMS:
            raise MappingError(
                path,
                f"{key}.transform",
                f"unknown transform {name!r}; allowed: {sorted(TRANSFORMS)}",
            )
    return tuple(names)


def _parse_constant(path: Path, key: str, field: pa.Field, value: Any) -> Any:
    if value is None:
        raise MappingError(
            path, f"{key}.constant", f"is null; {UNIFIED_TABLE} columns are non-null"
        )
    # YAML reads `yes`/`true` as booleans and bare numbers as numbers: only a real string may
    # fill a string column, and only a number (never a boolean) a float column.
    ok = (
        isinstance(value, str)
        if _is_text(field.type)
        else isinstance(value, int | float) and not isinstance(value, bool)
        if pa.types.is_floating(field.type)
        else False
    )
    if not ok:
        allowed = "a string (quote it)" if _is_text(field.type) else "a number"
        if not (_is_text(field.type) or pa.types.is_floating(field.type)):
            allowed = "no constant (map it `from` a source field)"
        raise MappingError(
            path, f"{key}.constant", f"{value!r} does not fit {field.type}; allowed: {allowed}"
        )
    return value


def packaged_mappings_dir() -> Path:
    """The default mappings: `schemahub_core/mappings` in a wheel, else the repo's `mappings/`.

    An installed wheel carries copies of the root files (force-included at build time). An
    editable or source checkout has no such folder in `src/` (and hatchling's editable install
    leaves only a snapshot taken at install time beside the .pth), so there the root
    `mappings/` folder, the one source of truth, is read directly and edits take effect at once.
    """
    packaged = importlib.resources.files("schemahub_core") / "mappings"
    if packaged.is_dir():
        return Path(str(packaged))
    checkout_root = Path(__file__).resolve().parents[3]  # src/schemahub_core/mapping.py -> root
    if (checkout_root / "mappings").is_dir() and (checkout_root / "schemahub-core").is_dir():
        return checkout_root / "mappings"
    raise MappingError(
        str(packaged),
        None,
        "no packaged mappings found: reinstall schemahub-core from a wheel built in the "
        "repository (it force-includes ../mappings), or pass extra_dirs to load_mappings",
    )


def _load_dir(directory: Path) -> dict[str, Mapping]:
    if not directory.is_dir():
        raise MappingError(directory, None, "is not a directory of mapping YAML files")
    found: dict[str, Mapping] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        mapping = load_mapping(path)
        if mapping.source_stream in found:
            raise MappingError(
                path,
                "source_stream",
                f"{mapping.source_stream!r} is also mapped by {found[mapping.source_stream].path}; "
                f"one file per source stream per directory",
            )
        found[mapping.source_stream] = mapping
    return found


def load_mappings(extra_dirs: Iterable[Path | str] = ()) -> dict[str, Mapping]:
    """All mappings by source stream: the packaged defaults, then each extra dir overriding them."""
    mappings = _load_dir(packaged_mappings_dir())
    for directory in extra_dirs:
        mappings.update(_load_dir(Path(directory)))
    return mappings
