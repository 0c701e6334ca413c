"""Keep secrets out of every log line of a plugin, at every log level.

Two layers, installed once per process by :func:`protect_secrets` (each plugin calls it with
its settings as soon as its config is parsed):

- Redaction: every log record created from then on has the known secret values (the
  plugin's ``secret`` settings and the standard AWS credential variables) replaced by
  ``REDACTED``, in its message and its traceback. It is a log record factory rather than a
  filter on a handler because singer-sdk (or ``SINGER_SDK_LOG_CONFIG``) may add handlers
  later, and a filter on a logger does not apply to its children's records.
- Wire loggers capped at INFO: at DEBUG, botocore dumps every request with its signed
  headers (access key id, session token) and urllib3 logs every URL with its query string.
  Credentials that no setting holds (an ECS task role, an instance profile) can only be kept
  out this way.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from schemahub_core.errors import REDACTED

# Loggers that write request headers or URLs at DEBUG: never below INFO.
WIRE_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3")
# Credentials the AWS SDKs read from the environment (ours and every other boto3 user's).
AWS_SECRET_ENV_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# Shorter values are not redacted: replacing every "testing" would garble the log, and no real
# credential is that short.
MIN_SECRET_LENGTH = 8

_secrets: tuple[str, ...] = ()  # longest first: a secret containing another goes whole
_install_lock = threading.Lock()
_installed = False


def secret_settings(config: Mapping[str, Any], config_jsonschema: Mapping[str, Any]) -> list[str]:
    """The values of the settings that ``config_jsonschema`` marks ``secret``/``writeOnly``."""
    properties = config_jsonschema.get("properties") or {}
    return [
        str(config[name])
        for name, spec in properties.items()
        if isinstance(spec, Mapping)
        and (spec.get("secret") or spec.get("writeOnly"))
        and config.get(name) not in (None, "")
    ]


def protect_secrets(values: Iterable[str] = ()) -> None:
    """Redact ``values`` and the AWS credential variables from every later log record.

    Idempotent: later calls add values; the record factory is installed once.
    """
    global _secrets, _installed
    found = {*values, *(os.environ.get(name, "") for name in AWS_SECRET_ENV_VARS)}
    with _install_lock:
        known = {*_secrets, *(v for v in found if len(v) >= MIN_SECRET_LENGTH)}
        _secrets = tuple(sorted(known, key=len, reverse=True))
        if not _installed:
            _install_record_factory()
            _installed = True
    for name in WIRE_LOGGERS:
        # Pinned, so that a root logger lowered to DEBUG later does not lower these.
        wire = logging.getLogger(name)
        wire.setLevel(max(wire.getEffectiveLevel(), logging.INFO))


def redact(text: str) -> str:
    """``text`` with every protected secret replaced by ``REDACTED``."""
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    return text


def _install_record_factory() -> None:
    """Wrap the current record factory with one that redacts message and traceback."""
    previous = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not _secrets:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it, as without us
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            # Formatters reuse exc_text when set: the traceback is formatted once, redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(redacting_factory)
