"""With validate_records on, the target rejects exactly the records singer-sdk's own validator
rejects: a corpus of good and bad records over many JSON-schema keywords, each decided by the
SDK's `JSONSchemaValidator` and by the target (in quarantine mode: accepted records reach the
raw layer, rejected ones `rejects/`), once with each record in its own batch and once with
each stream's records in one batch."""

from __future__ import annotations

import gzip
import json

import pytest
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks.core import JSONSchemaValidator
from target_s3_parquet.records import RecordError
from target_s3_parquet.testing import Output, run_in_process

# (schema properties, required, additionalProperties, records). Every record also gets an
# integer "n" (its id in the corpus), declared in every schema.
CORPUS: dict[str, tuple[dict, list[str], bool | None, list[dict]]] = {
    "types": (
        {
            "i": {"type": "integer"},
            "f": {"type": "number"},
            "s": {"type": "string"},
            "b": {"type": "boolean"},
        },
        [],
        None,
        [
            {"i": 1, "f": 1.5, "s": "x", "b": True},
            {"i": -0, "f": 1, "s": "", "b": False},
            {},  # every property optional
            {"extra": [1, {"a": None}]},  # additional properties allowed
            {"i": "1"},
            {"i": 1.5},
            {"i": True},
            {"f": "1.5"},
            {"f": False},
            {"s": 1},
            {"s": None},  # null is not a string
            {"b": 0},
            {"b": None},
            {"i": None},
            {"f": None},
            {"s": ["x"]},
            {"i": {"a": 1}},
        ],
    ),
    "nullable_and_required": (
        {
            "a": {"type": ["integer", "null"]},
            "c": {"type": "string"},
            "o": {"type": ["string", "null"]},
        },
        ["a", "c"],
        None,
        [
            {"a": 1, "c": "x"},
            {"a": None, "c": "x"},  # required and nullable: an explicit null is fine
            {"c": "x"},  # ... but absent is not
            {"a": 1},
            {"a": 1, "c": None},
            {"a": 1, "c": "x", "o": None},
            {"a": "1", "c": "x"},
        ],
    ),
    "bounds": (
        {
            "i": {"type": "integer", "minimum": 0, "maximum": 10},
            "f": {"type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 1.5},
            "s": {"type": "string", "minimum": 5},  # bounds do not apply to strings
            "h": {"type": "integer", "maximum": 2.5},
        },
        [],
        None,
        [
            {"i": 0, "f": 0.5, "s": "a", "h": 2},
            {"i": 10, "f": 1.4999},
            {"i": -1},
            {"i": 11},
            {"f": 0},
            {"f": 1.5},
            {"f": 0.0000001},
            {"f": -3},
            {"f": None},
            {"h": 3},
            {"h": -(2**62)},
        ],
    ),
    "lengths": (
        {
            "s": {"type": "string", "minLength": 2, "maxLength": 3},
            "m": {"type": "integer", "minLength": 5},  # lengths do not apply to numbers
        },
        [],
        None,
        [
            {"s": "ab", "m": 1},
            {"s": "abc"},
            {"s": "a"},
            {"s": "abcd"},
            {"s": "éé"},  # 2 code points, 4 bytes: counted as 2
            {"s": "ééé"},  # 3 code points, 6 bytes
            {"s": "😀😀😀"},  # 3 code points, 12 bytes
            {"s": "😀😀😀😀"},
            {"s": "é"},
            {"s": "\u00e9\u0301"},  # 2 code points (e-acute + combining accent)
        ],
    ),
    "enums": (
        {
            "side": {"type": "string", "enum": ["buy", "sell"]},
            "kind": {"type": ["string", "null"], "enum": ["a", "b"]},
            "maybe": {"type": ["string", "null"], "enum": ["a", None]},
        },
        [],
        None,
        [
            {"side": "buy", "kind": "a", "maybe": "a"},
            {"side": "sell", "maybe": None},
            {"side": "BUY"},
            {"side": "buy "},
            {"side": None},
            {"kind": None},  # nullable type, but null is not in the enum
            {"kind": "c"},
            {"maybe": "b"},
        ],
    ),
    "closed": (
        {"a": {"type": "integer"}, "b": {"type": ["string", "null"]}},
        [],
        False,
        [
            {"a": 1, "b": "x"},
            {"a": 1},
            {"a": 1, "c": 2},
            {"zzz": None},
        ],
    ),
    "required_but_not_declared": (
        {"a": {"type": "integer"}},
        ["zz"],
        None,
        [{"a": 1, "zz": [1]}, {"a": 1}],
    ),
    # Keywords Arrow cannot mirror exactly: the target checks these streams one by one.
    "pattern": (
        {"symbol": {"type": "string", "pattern": "^[A-Z]+-[A-Z]+$"}, "d": {"pattern": "^\\d+$"}},
        [],
        None,
        [
            {"symbol": "BTC-USD"},
            {"symbol": "btc-usd"},
            {"symbol": "BTC-USD\n"},  # Python's $ matches before a final newline, RE2's not
            {"d": "١٢٣"},  # Arabic-Indic digits: Python's \d matches them, RE2's does not
            {"d": "12a"},
            {"d": 12},  # pattern applies to strings only
        ],
    ),
    "pattern_only": (  # a stream that would otherwise be flat
        {"symbol": {"type": "string", "pattern": "^[A-Z]+-[A-Z]+$"}},
        [],
        None,
        [{"symbol": "BTC-USD"}, {"symbol": "btc-usd"}],
    ),
    "multiple_of": (
        {"p": {"type": "number", "multipleOf": 0.01}, "q": {"type": "integer", "multipleOf": 5}},
        [],
        None,
        [
            {"p": 0.3, "q": 10},
            {"p": 0.301},
            {"p": 19.99},
            {"q": 7},
        ],
    ),
    "unions_and_nesting": (
        {
            "u": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]},
            "c": {"const": "x"},
            "obj": {
                "type": "object",
                "properties": {"k": {"type": "integer"}},
                "required": ["k"],
            },
            "arr": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        },
        [],
        None,
        [
            {"u": "x", "c": "x", "obj": {"k": 1}, "arr": ["a"]},
            {"u": 3},
            {"u": -3},
            {"u": 1.5},
            {"c": "y"},
            {"obj": {}},
            {"obj": {"k": "1"}},
            {"arr": ["a", "b", "c"]},
            {"arr": [1]},
        ],
    ),
    "formats_are_not_checked": (
        {"t": {"type": "string", "format": "date-time"}},
        [],
        None,
        [{"t": "2026-06-19T00:00:00Z"}, {"t": "not a time"}],
    ),
}


def _schema(name: str) -> dict:
    properties, required, additional, _ = CORPUS[name]
    schema: dict = {
        "type": "object",
        "properties": {**properties, "n": {"type": "integer"}},
        "required": ["n", *required],
    }
    if additional is not None:
        schema["additionalProperties"] = additional
    return schema


def _records(name: str) -> list[dict]:
    return [{**record, "n": n} for n, record in enumerate(CORPUS[name][3])]


def _sdk_accepts(schema: dict, record: dict) -> bool:
    try:
        JSONSchemaValidator(schema).validate(record)
    except InvalidRecord:
        return False
    return True


def _lines() -> list[str]:
    lines = []
    for name in CORPUS:
        stream = f"corpus_{name}"
        schema = {"type": "SCHEMA", "stream": stream, "schema": _schema(name)}
        lines.append(json.dumps({**schema, "key_properties": []}))
        lines += [
            json.dumps({"type": "RECORD", "stream": stream, "record": record})
            for record in _records(name)
        ]
    return lines


def _ids(output: Output, layer: str, stream: str) -> set[int]:
    ids = set()
    for path in output.local_root.glob(f"{layer}/{stream}/*/*.jsonl.gz"):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            entry = json.loads(line)
            ids.add(json.loads(entry["record_json"])["n"] if layer == "rejects" else entry["n"])
    return ids


@pytest.mark.parametrize("batch_size_rows", [1, 10_000], ids=["record-per-batch", "one-batch"])
def test_the_target_accepts_and_rejects_exactly_what_the_sdk_validator_does(
    local_output, batch_size_rows
):
    config = {
        **local_output.config,
        "on_invalid_record": "quarantine",
        "batch_size_rows": batch_size_rows,
    }
    run_in_process(config, _lines())
    differences = []
    for name in CORPUS:
        stream = f"corpus_{name}"
        accepted, rejected = (
            _ids(local_output, "raw", stream),
            _ids(local_output, "rejects", stream),
        )
        assert not accepted & rejected
        for n, record in enumerate(_records(name)):
            sdk = _sdk_accepts(_schema(name), record)
            target = n in accepted
            assert target or n in rejected, f"{name} #{n} is neither committed nor rejected"
            if sdk != target:
                differences.append(f"{name} #{n} {record}: sdk accepts={sdk}, target={target}")
    assert not differences, "\n".join(differences)
    # the corpus holds both outcomes for every keyword family
    for name in CORPUS:
        decisions = {_sdk_accepts(_schema(name), r) for r in _records(name)}
        assert decisions == {True, False} or name == "formats_are_not_checked"


# Where the target is deliberately stricter than the SDK: values its typed columns cannot
# hold. An integer written as 1.0 or 1e2 (jsonschema: an integer) or beyond int64 is rejected
# with the reason, not silently converted.
STRICTER = [{"i": 1.0}, {"i": 1e2}, {"i": 2**64}]


def test_integers_an_int64_column_cannot_hold_as_written_are_rejected_with_the_reason(
    local_output,
):
    schema = {"type": "object", "properties": {"i": {"type": "integer"}}}
    assert all(_sdk_accepts(schema, record) for record in STRICTER)
    lines = [json.dumps({"type": "SCHEMA", "stream": "s", "schema": schema, "key_properties": []})]
    lines += [json.dumps({"type": "RECORD", "stream": "s", "record": r}) for r in STRICTER]
    run_in_process({**local_output.config, "on_invalid_record": "quarantine"}, lines)
    [path] = local_output.local_root.glob("rejects/s/*/*.jsonl.gz")
    entries = [json.loads(x) for x in gzip.decompress(path.read_bytes()).splitlines()]
    assert [e["input_line"] for e in entries] == [2, 3, 4]
    assert all("cannot be converted to the stream's column types" in e["reason"] for e in entries)


def test_a_record_the_bulk_checks_flag_fails_naming_its_line_field_and_the_sdk_message(
    local_output,
):
    schema = _schema("enums")
    lines = [json.dumps({"type": "SCHEMA", "stream": "s", "schema": schema, "key_properties": []})]
    lines += [
        json.dumps({"type": "RECORD", "stream": "s", "record": {"n": n, "side": "buy"}})
        for n in range(150)
    ]
    lines[120] = lines[120].replace('"buy"', '"BUY"')
    relayed: list[dict] = []
    with pytest.raises(RecordError) as error:
        run_in_process({**local_output.config, "batch_size_rows": 100}, lines, states=relayed)
    message = str(error.value)
    assert "stream 's', input line 121" in message
    assert "field 'side': 'BUY' is not one of ['buy', 'sell']" in message
