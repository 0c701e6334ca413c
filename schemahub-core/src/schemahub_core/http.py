"""Retrying HTTP client for exchange REST APIs, with the rate limiter and breaker built in.

:class:`ExchangeClient` owns a ``requests.Session`` whose
:class:`~schemahub_core.transport.ResilientAdapter` applies, to *every* request sent through
the session: the circuit breaker (waits while OPEN), the rate limiter (``acquire(weight)``
before sending, ``observe(headers)`` after), a connection pool sized to ``concurrency``,
full reads of the body (a cut body raises ``TruncatedBodyError``) and per-attempt metrics
in singer-sdk's ``METRIC:`` format. ``ExchangeClient.get`` / ``get_json`` add the retry
loop: 429, 5xx, timeouts, connection resets and truncated bodies are retried with
exponential backoff and full jitter (``uniform(0, min(cap, base * 2**n))``); when the answer
has ``Retry-After`` the wait is ``max(jitter, Retry-After)``. 418 raises
:class:`IPBannedError` at once, other 4xx :class:`FatalAPIError`. ``get_json`` also retries a
2xx whose body is not JSON (a CDN's HTML page in place of the API's answer).

Breaker accounting: only 5xx, timeouts, connection errors and truncated bodies are
failures. A 429 is the exchange protecting itself from *us* -- it is up and answering -- so
it is neutral (the limiter and ``Retry-After`` deal with it); any other answer, including a
non-JSON 200, is a success at the transport level.

Threads: one client is shared by all threads of a tap (``concurrency`` of them); the
session's connection pool blocks extra threads until a connection is free.

Retries are this module's own loop, not ``urllib3.Retry`` or ``backoff``: a retry must go
back through the adapter (breaker wait, limiter charge per attempt), wait at least
``Retry-After`` but never less than the jittered backoff, fail at once on a refused first
connection, and retry a non-JSON 2xx body; neither library does all of that (see
docs/decisions.md).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import requests

from schemahub_core.breaker import CircuitBreaker
from schemahub_core.errors import (
    REDACTED,
    SECRET_QUERY_PARAMS,
    ExchangeUnreachableError,
    FatalAPIError,
    IPBannedError,
    RetriesExhaustedError,
    exchange_message,
    redact_url,
)
from schemahub_core.ratelimit import RateLimiter, parse_retry_after
from schemahub_core.transport import (
    ATTEMPT_HEADER,
    RETRYABLE_EXCEPTIONS,
    WEIGHT_HEADER,
    InvalidJSONBodyError,
    ResilientAdapter,
    connection_refused,
)

_LOGGER = logging.getLogger(__name__)
_SECRET_PARAM_RE = re.compile(
    r"(?i)\b(" + "|".join(sorted(SECRET_QUERY_PARAMS)) + r")=([^&\s'\"]+)"
)


def backoff_delays(
    base: float = 0.5, cap: float = 60.0, *, rng: random.Random | None = None
) -> Generator[float, BaseException | None, None]:
    """Full-jitter exponential delays: attempt n waits ``uniform(0, min(cap, base * 2**n))``.

    Prime it with ``next()`` (the first, zero value is discarded), then ``send`` each
    exception; when that exception carries a response with ``Retry-After``, the delay is at
    least that long.
    """
    draw = rng or random.Random()
    exc = yield 0.0
    ceiling = min(cap, base)
    while True:
        delay = draw.uniform(0.0, ceiling)
        # Doubling a running ceiling (not base * 2**n) cannot overflow on long retry runs.
        ceiling = min(cap, ceiling * 2)
        response = getattr(exc, "response", None)
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                delay = max(delay, retry_after)
        exc = yield delay


class ExchangeClient:
    """Shared, thread-safe HTTP client for one exchange API (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        concurrency: int = 4,
        timeout: float | tuple[float, float] = (5, 30),
        max_retries: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        user_agent: str = "schemahub-core/0.1 (+singer tap)",
        headers: Mapping[str, str] | None = None,
        sensitive_headers: Iterable[str] = (),
        logger: logging.Logger | None = None,
        metrics_logger: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        answer_status: Callable[[requests.Response], int] | None = None,
    ) -> None:
        """``concurrency`` sizes the pool; ``sensitive_headers`` are never logged or raised.

        ``answer_status``: see :class:`~schemahub_core.transport.ResilientAdapter`.
        """
        if concurrency < 1:
            raise ValueError(f"ExchangeClient(concurrency={concurrency}) must be >= 1.")
        if max_retries < 0:
            raise ValueError(f"ExchangeClient(max_retries={max_retries}) must be >= 0.")
        self.base_url = base_url.rstrip("/") + "/"
        self.limiter = limiter
        self.breaker = breaker
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.logger = logger or _LOGGER
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sensitive = {name.lower() for name in sensitive_headers}
        # Set at the first answer (any status): from then on a refused connection is an
        # outage to ride out; before it, a wrong api_url or a service that is not running.
        self._answered = False
        self.adapter = ResilientAdapter(
            limiter=limiter,
            breaker=breaker,
            pool_size=concurrency,
            metrics_logger=metrics_logger,
            answer_status=answer_status,
        )
        self.session = requests.Session()
        self.session.mount("http://", self.adapter)
        self.session.mount("https://", self.adapter)
        self.session.headers["User-Agent"] = user_agent
        self.session.headers.update(headers or {})
        self._secret_values = frozenset(
            str(value)
            for name, value in self.session.headers.items()
            if name.lower() in self._sensitive
        )

    def url_for(self, path_or_url: str) -> str:
        """Absolute URL for a path relative to ``base_url`` (absolute URLs pass through)."""
        if "://" in path_or_url:
            return path_or_url
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    def get(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        *,
        weight: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """GET with retries; returns the first non-retryable successful response."""
        response, _ = self._get(path_or_url, params, weight, headers, expect_json=False)
        return response

    def get_json(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        *,
        weight: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Like :meth:`get` but returns the parsed JSON; a non-JSON 2xx body is retried."""
        _, payload = self._get(path_or_url, params, weight, headers, expect_json=True)
        return payload

    def backoff_delays(self) -> Generator[float, BaseException | None, None]:
        """This client's backoff schedule (see :func:`backoff_delays`), for other retry loops."""
        return backoff_delays(self.backoff_base, self.backoff_max, rng=self._rng)

    def raise_for_fatal(self, response: requests.Response) -> None:
        """Raise :class:`IPBannedError` for 418 and :class:`FatalAPIError` for other 4xx."""
        status = response.status_code
        if status == 429 or not 400 <= status < 500:
            return
        url = self.redact(redact_url(response.url))
        message, code = exchange_message(self.redact(response.text))
        if status == 418:
            seconds = parse_retry_after(response.headers.get("Retry-After"))
            until = (
                datetime.fromtimestamp(time.time() + seconds, UTC) if seconds is not None else None
            )
            raise IPBannedError(
                url=url,
                exchange_message=message,
                retry_after_seconds=seconds,
                banned_until=until,
                code=code,
            )
        raise FatalAPIError(status=status, exchange_message=message, url=url, code=code)

    def redact(self, text: str) -> str:
        """Remove sensitive header values and secret query parameters from ``text``."""
        for secret in self._secret_values:
            if secret:
                text = text.replace(secret, REDACTED)
        return _SECRET_PARAM_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", text)

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    def __enter__(self) -> ExchangeClient:
        """Use as a context manager that closes the session on exit."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the session."""
        self.close()

    def _get(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None,
        weight: int,
        headers: Mapping[str, str] | None,
        *,
        expect_json: bool,
    ) -> tuple[requests.Response, Any]:
        """The retry loop shared by ``get`` and ``get_json``."""
        url = self.url_for(path_or_url)
        call_headers = dict(headers or {})
        secrets = {v for k, v in call_headers.items() if k.lower() in self._sensitive}
        if not secrets <= self._secret_values:
            # Swap in a new frozenset: redact() in other threads iterates the old one.
            self._secret_values = self._secret_values | secrets
        prepared_url = requests.Request("GET", url, params=params).prepare().url or url
        shown_url = self.redact(redact_url(prepared_url))
        attempts = self.max_retries + 1
        delays = self.backoff_delays()
        next(delays)
        for attempt in range(1, attempts + 1):
            call_headers[WEIGHT_HEADER] = str(weight)
            call_headers[ATTEMPT_HEADER] = str(attempt)
            status: int | None = None
            try:
                response = self.session.get(
                    url, params=params, headers=call_headers, timeout=self.timeout
                )
                self._answered = True
                status = response.status_code
                if status < 400:
                    return response, (self._parse_json(response) if expect_json else None)
                self.raise_for_fatal(response)
                problem = f"HTTP {status}: {exchange_message(self.redact(response.text))[0]}"
                delay = delays.send(requests.HTTPError(response=response))
            except RETRYABLE_EXCEPTIONS as exc:
                if not self._answered and connection_refused(exc):
                    raise ExchangeUnreachableError(url=shown_url) from exc
                problem = f"{type(exc).__name__}: {self.redact(str(exc))}"
                delay = delays.send(exc)
            if attempt == attempts:
                raise RetriesExhaustedError(
                    url=shown_url, attempts=attempts, last_status=status, last_error=problem
                )
            self.logger.warning(
                "GET %s attempt %d of %d failed (%s); retrying in %.2f s",
                shown_url,
                attempt,
                attempts,
                problem,
                delay,
            )
            self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def _parse_json(self, response: requests.Response) -> Any:
        """Parse a 2xx body as JSON; an HTML page in its place is a retryable glitch."""
        try:
            return response.json()
        except ValueError as exc:
            excerpt = exchange_message(self.redact(response.text))[0]
            raise InvalidJSONBodyError(
                f"expected JSON, got {response.headers.get('Content-Type', 'no content type')}: "
                f"{excerpt}",
                response=response,
            ) from exc
