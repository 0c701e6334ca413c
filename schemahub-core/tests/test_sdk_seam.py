"""The private singer-sdk members `sdk_seam` uses exist, behave as it says, in the pinned range.

When singer-sdk is upgraded, this file is where it breaks: widen SUPPORTED_SINGER_SDK (and
the pyprojects) only once every test here passes against the new release.
"""

from __future__ import annotations

import inspect
import json
import tomllib
from contextlib import redirect_stdout
from datetime import UTC, datetime
from importlib.metadata import version
from io import StringIO
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from schemahub_core import sdk_seam
from schemahub_core.fastpath import PageWriter, integer_bookmark
from schemahub_core.record_layout import RECORD_LINE_FORMS, record_end, record_prefix
from singer_sdk import Stream, Tap, Target
from singer_sdk import typing as th
from singer_sdk.io_base import GenericSingerReader, SingerWriter
from singer_sdk.singerlib import RecordMessage
from singer_sdk.sinks import Sink

REPO = Path(__file__).resolve().parents[2]
SCHEMA = th.PropertiesList(th.Property("id", th.IntegerType, required=True)).to_dict()


class IdStream(Stream):
    name = "ids"
    replication_key = "id"
    is_sorted = True
    schema = SCHEMA

    def get_records(self, context):
        yield from ()


class IdTap(Tap):
    name = "tap-ids"
    config_jsonschema = th.PropertiesList(th.Property("start_date", th.StringType)).to_dict()

    def discover_streams(self):
        return [IdStream(self)]


class NullSink(Sink):
    def process_record(self, record, context):
        pass

    def process_batch(self, context):
        pass


class NullTarget(Target):
    name = "target-null"
    config_jsonschema = th.PropertiesList().to_dict()
    default_sink_class = NullSink


def parameters(function) -> tuple[str, ...]:
    return tuple(inspect.signature(function).parameters)


def schema_message(properties: dict) -> dict:
    return {"type": "SCHEMA", "stream": "ids", "schema": properties, "key_properties": ["id"]}


def test_installed_singer_sdk_is_in_the_range_the_seam_was_written_for():
    installed = Version(version("singer-sdk"))
    assert installed in SpecifierSet(sdk_seam.SUPPORTED_SINGER_SDK), (
        f"singer-sdk {installed} is installed, but schemahub_core.sdk_seam was written for "
        f"{sdk_seam.SUPPORTED_SINGER_SDK}: check every private member this file tests, then "
        "widen SUPPORTED_SINGER_SDK and the pyprojects' pins together."
    )


def test_every_package_pins_singer_sdk_to_the_seams_range():
    pins = {}
    for pyproject in sorted(REPO.glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        extras = project.get("optional-dependencies", {}).values()
        for requirement in [*project.get("dependencies", []), *(r for e in extras for r in e)]:
            name = requirement.split("[")[0].split(">")[0].split("<")[0].split("~")[0].strip()
            if name == "singer-sdk":
                pins[f"{pyproject.parent.name}: {requirement}"] = requirement
    assert len(pins) >= 5  # the three taps, the target, core's test extra
    wanted = SpecifierSet(sdk_seam.SUPPORTED_SINGER_SDK)
    wrong = [
        where
        for where, requirement in pins.items()
        if SpecifierSet(requirement.split("]")[-1].removeprefix("singer-sdk")) != wanted
    ]
    assert not wrong, f"pin singer-sdk{wanted} (sdk_seam.SUPPORTED_SINGER_SDK) in: {wrong}"


def test_core_record_layout_writes_the_sdks_own_record_line():
    extracted = datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    message = RecordMessage(
        stream="trädes", record={"id": 1, "side": 'é"'}, time_extracted=extracted
    )
    sdk_line = SingerWriter().format_message(message) + "\n"
    ours = record_prefix("trädes") + '{"id":1' + record_end({"side": 'é"'}, extracted.isoformat())
    assert ours == sdk_line
    head, gap = RECORD_LINE_FORMS[0]
    assert sdk_line.encode().startswith(head % json.dumps("trädes").encode())
    assert gap in sdk_line.encode()


def test_the_private_members_have_the_signatures_the_seam_calls():
    assert parameters(Stream._increment_stream_state) == ("self", "latest_record", "context")
    assert inspect.signature(Stream._increment_stream_state).parameters["context"].kind is (
        inspect.Parameter.KEYWORD_ONLY
    )
    assert parameters(Stream._write_state_message) == ("self",)
    assert parameters(Target._write_state_message) == ("self", "state")
    assert parameters(GenericSingerReader._process_unknown_message) == ("self", "message_dict")
    for hook, expected in sdk_seam.TARGET_HOOK_OVERRIDES.items():
        assert parameters(getattr(Target, hook)) == expected, hook


def test_advanced_bookmark_is_printed_once_by_the_next_state():
    stream = IdTap(config={}, parse_env_config=False).streams["ids"]
    assert sdk_seam.tap_of(stream).name == "tap-ids"
    sdk_seam.advance_bookmark(stream, None, 41)
    out = StringIO()
    with redirect_stdout(out):
        sdk_seam.write_stream_state(stream)
        sdk_seam.write_stream_state(stream)  # nothing new: printed once
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    state = json.loads(lines[0])
    assert state["type"] == "STATE"
    assert state["value"]["bookmarks"]["ids"]["replication_key_value"] == 41


def test_page_writer_writes_before_the_state_and_at_the_sdks_cadence():
    stream = IdTap(config={}, parse_env_config=False).streams["ids"]
    stream.STATE_MSG_FREQUENCY = 10
    out = StringIO()
    writer = PageWriter(stream, {}, out=out)
    with redirect_stdout(out):
        writer.write("a\n" * 6, 6, 6)  # 6 written: no STATE yet
        writer.write("b\n" * 6, 6, 12)  # crosses 10: STATE at 12, after the lines
    lines = out.getvalue().splitlines()
    assert lines[:12] == ["a"] * 6 + ["b"] * 6
    assert [json.loads(line)["value"]["bookmarks"]["ids"] for line in lines[12:]] == [
        {"replication_key": "id", "replication_key_value": 12}
    ]


@pytest.mark.parametrize(("stored", "expected"), [(None, None), (17, 17), ("17", 17), (True, None)])
def test_integer_bookmark_ignores_the_start_date_the_sdk_offers(stored, expected):
    state = {"bookmarks": {"ids": {"replication_key_value": stored}}} if stored is not None else {}
    tap = IdTap(config={"start_date": "2024-01-01T00:00:00Z"}, state=state, parse_env_config=False)
    stream = tap.streams["ids"]
    assert integer_bookmark(stream, None) == expected


def test_target_sinks_and_state_through_the_seam():
    target = NullTarget(config={}, parse_env_config=False)
    target.process_lines(StringIO(json.dumps(schema_message(SCHEMA)) + "\n"))
    first = sdk_seam.active_sinks(target)["ids"]
    assert sdk_seam.take_retired_sinks(target) == []
    wider = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True), th.Property("price", th.StringType)
    ).to_dict()
    target.process_lines(StringIO(json.dumps(schema_message(wider)) + "\n"))
    assert sdk_seam.active_sinks(target)["ids"] is not first
    assert sdk_seam.take_retired_sinks(target) == [first]
    assert sdk_seam.take_retired_sinks(target) == []
    out = StringIO()
    with redirect_stdout(out):
        sdk_seam.write_target_state(target, {"bookmarks": {"ids": 1}})
    assert json.loads(out.getvalue()) == {"bookmarks": {"ids": 1}}
    with pytest.raises(ValueError, match="Unknown message type 'NOPE'"):
        sdk_seam.refuse_unknown_message(target.message_reader, {"type": "NOPE"})


def test_batch_encoding_is_parsed_as_the_sdk_hands_it_to_process_batch_files():
    message = {"encoding": {"format": "parquet", "compression": "gzip"}}
    encoding = sdk_seam.batch_encoding(message)
    assert (encoding.format, encoding.compression) == ("parquet", "gzip")
    assert parameters(Sink.process_batch_files) == ("self", "encoding", "files")
