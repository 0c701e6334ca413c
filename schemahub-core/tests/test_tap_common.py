"""The settings every tap shares: one declaration, the exchange's parts passed in."""

from __future__ import annotations

import logging

import pytest
from schemahub_core.batch_files import BatchConfigError
from schemahub_core.errors import REDACTED
from schemahub_core.tap_common import check_settings, common_settings
from singer_sdk import Stream, Tap
from singer_sdk import typing as th

SHARED = {"api_url", "start_date", "lookback_minutes", "concurrency", "user_agent"}


def declared(**overrides):
    """common_settings of an imaginary exchange, as a JSON schema."""
    arguments = {
        "tap_name": "tap-example",
        "version": "1.2.3",
        "exchange": "Example",
        "api_url": "https://api.example.com",
        "api_url_note": "Or a simulator.",
        "start_date_how": "one lookup",
        "concurrency": 3,
        "concurrency_note": "Pages in parallel.",
        **overrides,
    }
    return th.PropertiesList(*common_settings(**arguments)).to_dict()["properties"]


def test_defaults_and_wording_carry_the_exchange_parts() -> None:
    schema = declared()
    assert set(schema) == SHARED
    assert schema["api_url"]["default"] == "https://api.example.com"
    assert schema["api_url"]["description"] == "Base URL of the Example REST API. Or a simulator."
    assert "(one lookup). A bookmark always wins" in schema["start_date"]["description"]
    assert schema["lookback_minutes"]["default"] == 45
    assert "number" in schema["lookback_minutes"]["type"]  # fractions of a minute work
    assert schema["concurrency"]["default"] == 3
    assert schema["user_agent"]["default"] == "tap-example/1.2.3"


def test_the_rate_setting_only_for_taps_paced_by_request_count() -> None:
    schema = declared(max_requests_per_second=2.5, rate_note="calls per second.")
    assert set(schema) == SHARED | {"max_requests_per_second"}
    assert schema["max_requests_per_second"]["default"] == 2.5
    assert schema["max_requests_per_second"]["description"].endswith("calls per second.")


class ExampleStream(Stream):
    """One record; enough for a tap to start."""

    name = "example"
    schema = th.PropertiesList(th.Property("id", th.IntegerType)).to_dict()

    def get_records(self, context):
        yield {"id": 1}


class ExampleTap(Tap):
    """A tap that starts the way SchemaHub's taps do."""

    name = "tap-example"
    config_jsonschema = th.PropertiesList(
        th.Property("token", th.StringType, secret=True),
    ).to_dict()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_settings(self)

    def discover_streams(self):
        return [ExampleStream(self)]


def test_check_settings_redacts_secret_settings_from_logs(caplog) -> None:
    ExampleTap(config={"token": "s3cr3t-token-value"}, parse_env_config=False)
    with caplog.at_level(logging.INFO):
        logging.getLogger("example").info("token is s3cr3t-token-value")
    assert caplog.records[-1].getMessage() == f"token is {REDACTED}"


def test_check_settings_refuses_batch_config_with_a_stream_map() -> None:
    config = {
        "batch_config": {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": "file:///tmp"},
        },
        "stream_maps": {"example": {"id": "id + 1"}},
    }
    with pytest.raises(BatchConfigError, match="stream map"):
        ExampleTap(config=config, parse_env_config=False, setup_mapper=True)
