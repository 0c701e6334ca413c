"""Secrets never reach a log line: known values are redacted, wire loggers stay above DEBUG."""

from __future__ import annotations

import io
import logging

from schemahub_core.log_redaction import protect_secrets, secret_settings

API_KEY = "api-key-canary-0123456789"


def test_secret_settings_are_the_values_of_settings_marked_secret() -> None:
    schema = {
        "properties": {
            "api_url": {"type": "string"},
            "api_key": {"type": "string", "secret": True, "writeOnly": True},
            "password": {"type": "string", "writeOnly": True},
            "token": {"type": "string", "secret": True},
        }
    }
    config = {"api_url": "https://example.com", "api_key": API_KEY, "password": "hunter2hunter2"}
    assert secret_settings(config, schema) == [API_KEY, "hunter2hunter2"]


def test_known_secrets_are_redacted_from_messages_arguments_and_tracebacks() -> None:
    protect_secrets([API_KEY])
    logger = logging.getLogger("schemahub_core.tests.redaction")
    out = io.StringIO()
    handler = logging.StreamHandler(out)  # added after protect_secrets, as singer-sdk may
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("headers %s", {"X-MBX-APIKEY": API_KEY})
        logger.info(f"key={API_KEY}")
        try:
            raise ValueError(f"bad key {API_KEY}")
        except ValueError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert API_KEY not in text
    assert text.count("REDACTED") == 3, text
    assert "{'X-MBX-APIKEY': 'REDACTED'}" in text
    assert "ValueError: bad key REDACTED" in text


def test_wire_loggers_stay_quiet_at_debug_even_when_the_root_logger_is_lowered() -> None:
    protect_secrets()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        for name in ("botocore.endpoint", "botocore.auth", "urllib3.connectionpool"):
            assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
    finally:
        root.setLevel(level)
