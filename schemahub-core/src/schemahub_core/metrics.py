"""Metric log lines in singer-sdk's format, without depending on singer-sdk.

singer-sdk 0.54 (``singer_sdk/metrics.py``) logs ``METRIC: {json}`` at INFO level, with the
JSON written compactly (``separators=(",", ":")``) and the keys ``type``, ``metric``,
``value`` and ``tags``. Meltano and log shippers parse exactly that, so SchemaHub emits the
same shape and reuses the SDK's metric and tag names where they mean the same thing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Literal

# Names shared with singer_sdk.metrics.Metric / Tag, so dashboards see one vocabulary.
HTTP_REQUEST_DURATION = "http_request_duration"
HTTP_REQUEST_COUNT = "http_request_count"
# SchemaHub's own counters: responses that made the client back off.
HTTP_THROTTLED_COUNT = "http_throttled_count"
HTTP_SERVER_ERROR_COUNT = "http_server_error_count"

TAG_ENDPOINT = "endpoint"
TAG_HTTP_STATUS_CODE = "http_status_code"
TAG_STATUS = "status"

MetricType = Literal["timer", "counter"]


def format_metric(
    metric_type: MetricType, metric: str, value: float, tags: Mapping[str, Any] | None = None
) -> str:
    """Return the JSON payload of one metric point, exactly as singer-sdk serialises it."""
    point = {"type": metric_type, "metric": metric, "value": value, "tags": dict(tags or {})}
    return json.dumps(point, default=str, separators=(",", ":"))


def log_metric(
    logger: logging.Logger,
    metric_type: MetricType,
    metric: str,
    value: float,
    tags: Mapping[str, Any] | None = None,
) -> None:
    """Log one metric point as ``METRIC: {json}`` at INFO level (singer-sdk's format)."""
    if logger.isEnabledFor(logging.INFO):
        logger.info("METRIC: %s", format_metric(metric_type, metric, value, tags))
