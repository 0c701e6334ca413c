"""The transport under :class:`schemahub_core.http.ExchangeClient`: a resilient HTTPAdapter.

Mounted on a ``requests.Session``, :class:`ResilientAdapter` applies to every request sent
through that session the circuit breaker, the rate limiter, a connection pool of fixed
size, a full read of the body (so a cut body is caught and counted) and per-attempt
metrics. Retrying is left to the caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from schemahub_core import metrics
from schemahub_core.breaker import CircuitBreaker
from schemahub_core.ratelimit import RateLimiter

# Internal request headers: the client tells its adapter the weight and attempt number of a
# request; the adapter strips them before anything goes on the wire.
WEIGHT_HEADER = "X-SchemaHub-Request-Weight"
ATTEMPT_HEADER = "X-SchemaHub-Attempt"

# singer-sdk routes this logger's METRIC lines with its own (SINGER_SDK_LOG_CONFIG), so
# our request metrics land wherever the tap's metrics go.
METRICS_LOGGER = logging.getLogger("singer_sdk.metrics")


class TruncatedBodyError(requests.exceptions.ChunkedEncodingError):
    """The body ended before its ``Content-Length``: the connection was cut mid-response."""


class InvalidJSONBodyError(requests.exceptions.ContentDecodingError):
    """A 2xx answer whose body is not JSON (typically a proxy's HTML error page)."""


RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def connection_refused(exc: BaseException) -> bool:
    """True when ``exc`` (from requests) means the TCP connection itself was refused."""
    # requests.ConnectionError <- urllib3 MaxRetryError (.reason) <- NewConnectionError
    # <- ConnectionRefusedError: follow reasons, causes and contexts down the chain.
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        if isinstance(current, ConnectionRefusedError):
            return True
        seen.add(id(current))
        reason = getattr(current, "reason", None)
        pending += [current.__cause__, current.__context__]
        pending += [reason] if isinstance(reason, BaseException) else []
    return False


class ResilientAdapter(HTTPAdapter):
    """HTTPAdapter that applies breaker, limiter, pool sizing, body checks and metrics."""

    def __init__(
        self,
        *,
        limiter: RateLimiter | None,
        breaker: CircuitBreaker | None,
        pool_size: int,
        metrics_logger: logging.Logger | None = None,
        answer_status: Callable[[requests.Response], int] | None = None,
    ) -> None:
        """``pool_size`` connections per host; extra threads wait for a free connection.

        ``answer_status`` gives the HTTP status an answer means, for exchanges that report
        errors in 200 bodies (Kraken): breaker, metrics and retries then treat it as such.
        """
        self.answer_status = answer_status
        self.limiter = limiter
        self.breaker = breaker
        self.metrics_logger = metrics_logger or METRICS_LOGGER
        # pool_block: more threads than connections queue up instead of opening throwaway
        # connections; max_retries=0: retries are ours, with backoff and the breaker.
        super().__init__(
            pool_connections=pool_size, pool_maxsize=pool_size, pool_block=True, max_retries=0
        )

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        """Send one attempt: wait for the breaker, pay the limiter, read and check the body."""
        request = request.copy()
        endpoint = urlsplit(request.url or "").path
        weight = int(request.headers.pop(WEIGHT_HEADER, 1))
        attempt = request.headers.pop(ATTEMPT_HEADER, None)
        tags: dict[str, Any] = {metrics.TAG_ENDPOINT: endpoint}
        if attempt is not None:
            tags["attempt"] = int(attempt)
        permit = self.breaker.before_request() if self.breaker else None
        started = time.monotonic()
        try:
            if self.limiter is not None:
                self.limiter.acquire(weight)
            started = time.monotonic()  # latency excludes the wait for the limiter
            response = super().send(request, stream=stream, **kwargs)
            if not stream:
                _read_whole_body(response)
                if self.answer_status is not None:
                    response.status_code = self.answer_status(response)
        except RETRYABLE_EXCEPTIONS as exc:
            if self.breaker is not None:
                self.breaker.record_failure(permit, reason=type(exc).__name__)
            tags.update({metrics.TAG_STATUS: "failed", "error": type(exc).__name__})
            elapsed = round(time.monotonic() - started, 6)
            metrics.log_metric(
                self.metrics_logger, "timer", metrics.HTTP_REQUEST_DURATION, elapsed, tags
            )
            raise
        except BaseException:
            if self.breaker is not None:
                self.breaker.record_neutral(permit)
            raise
        elapsed = time.monotonic() - started
        if self.limiter is not None:
            self.limiter.observe(response.headers)
        self._account(response.status_code, permit, elapsed, tags)
        return response

    def _account(self, status: int, permit: int | None, elapsed: float, tags: dict) -> None:
        """Report the answer to the breaker and log its metrics."""
        if status >= 500:
            if self.breaker is not None:
                self.breaker.record_failure(permit, reason=f"HTTP {status}")
            metrics.log_metric(
                self.metrics_logger, "counter", metrics.HTTP_SERVER_ERROR_COUNT, 1, tags
            )
        elif status == 429:
            if self.breaker is not None:
                self.breaker.record_neutral(permit)
            metrics.log_metric(
                self.metrics_logger, "counter", metrics.HTTP_THROTTLED_COUNT, 1, tags
            )
        elif self.breaker is not None:
            self.breaker.record_success(permit)
        tags[metrics.TAG_HTTP_STATUS_CODE] = status
        tags[metrics.TAG_STATUS] = "succeeded" if status < 400 else "failed"
        metrics.log_metric(
            self.metrics_logger, "timer", metrics.HTTP_REQUEST_DURATION, round(elapsed, 6), tags
        )


def _read_whole_body(response: requests.Response) -> None:
    """Load the body now (inside breaker accounting) and detect a short read."""
    body = response.content  # urllib3 raises on a short read; requests wraps it
    declared = response.headers.get("Content-Length")
    if declared is None or response.headers.get("Content-Encoding") or not declared.isdigit():
        return
    if len(body) < int(declared):
        raise TruncatedBodyError(
            f"response body cut short: {len(body)} of {declared} bytes", response=response
        )
