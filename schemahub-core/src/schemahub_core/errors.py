"""Exceptions raised by the exchange HTTP client, written for the person paged at 3 a.m.

Every message says what happened, on which URL (with secret query parameters redacted),
what the exchange itself said, and what to do next.
"""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that carry credentials on the exchanges we talk to (Binance signs with
# `signature`; some proxies accept `apiKey`/`token`). Compared case-insensitively.
SECRET_QUERY_PARAMS = frozenset(
    {
        "signature",
        "apikey",
        "api_key",
        "key",
        "secret",
        "token",
        "access_token",
        "password",
        "passphrase",
    }
)
REDACTED = "REDACTED"
_BODY_EXCERPT_CHARS = 200


def redact_url(url: str, secret_params: frozenset[str] = SECRET_QUERY_PARAMS) -> str:
    """Return ``url`` with the values of secret query parameters replaced by ``REDACTED``."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    cleaned = [(k, REDACTED if k.lower() in secret_params else v) for k, v in pairs]
    return urlunsplit(parts._replace(query=urlencode(cleaned, safe=",")))


def exchange_message(body: str) -> tuple[str, int | None]:
    """Extract the exchange's own error text (and Binance's numeric code) from a body.

    Coinbase answers ``{"message": "..."}``, Binance ``{"code": -1121, "msg": "..."}``,
    Kraken ``{"error": ["EGeneral:Invalid arguments"]}``.
    Anything else (an HTML error page from a proxy, plain text) is quoted, shortened.
    """
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        code = payload.get("code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        for key in ("msg", "message", "error"):
            if isinstance(payload.get(key), str):
                return payload[key], code
        errors = payload.get("error")  # Kraken: {"error": ["EQuery:Unknown asset pair"]}
        if isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
            return "; ".join(errors), code
    text = " ".join(body.split())
    if not text:
        return "(empty response body)", None
    if len(text) > _BODY_EXCERPT_CHARS:
        text = text[:_BODY_EXCERPT_CHARS] + "..."
    if payload is not None:
        return f"(no error message in the body) {text}", None
    return f"(not a JSON error body) {text}", None


class ExchangeAPIError(Exception):
    """Base class of every error the exchange client raises; carries the redacted URL."""

    def __init__(self, message: str, *, url: str) -> None:
        """Store the human-readable message and the URL (already redacted by the caller)."""
        super().__init__(message)
        self.url = url


class FatalAPIError(ExchangeAPIError):
    """A 4xx answer that retrying cannot fix (bad symbol, bad cursor, auth, geo-block...)."""

    def __init__(
        self, *, status: int, exchange_message: str, url: str, code: int | None = None
    ) -> None:
        """Build the message from the HTTP status and the exchange's own words."""
        self.status = status
        self.exchange_message = exchange_message
        self.code = code
        said = f"{exchange_message} (code {code})" if code is not None else exchange_message
        message = (
            f"The exchange rejected GET {url} with HTTP {status}: {said}. "
            f"This is not retried because the same request would fail again. "
            f"{_advice(status)}"
        )
        super().__init__(message, url=url)


class IPBannedError(FatalAPIError):
    """Binance's HTTP 418: this IP address is banned for sending requests after 429s."""

    def __init__(
        self,
        *,
        url: str,
        exchange_message: str,
        retry_after_seconds: float | None,
        banned_until: datetime | None,
        code: int | None = None,
    ) -> None:
        """Explain the ban, its end time (from ``Retry-After``) and how not to extend it."""
        super().__init__(status=418, exchange_message=exchange_message, url=url, code=code)
        self.retry_after_seconds = retry_after_seconds
        self.banned_until = banned_until
        until = (
            f"until {banned_until.isoformat()} (Retry-After: {retry_after_seconds:.0f} s)"
            if banned_until is not None and retry_after_seconds is not None
            else "for an unknown time (no Retry-After header)"
        )
        self.args = (
            f"Binance has BANNED this IP address (HTTP 418) {until} while requesting "
            f"GET {url}; it said: {exchange_message}. Binance bans IPs that keep sending "
            f"requests after 429 'too much weight' answers, for 2 minutes up to 3 days, and "
            f"every request during the ban makes it longer. Stop every job using this IP "
            f"until the ban ends, then lower the request rate (weight-budget fraction, "
            f"concurrency) or check for other programs sharing the IP before restarting.",
        )


class RetriesExhaustedError(ExchangeAPIError):
    """Every attempt failed with a retryable problem (429, 5xx, timeout, reset, cut body)."""

    def __init__(
        self,
        *,
        url: str,
        attempts: int,
        last_status: int | None,
        last_error: str,
    ) -> None:
        """Summarise the attempts and the last thing that went wrong."""
        self.attempts = attempts
        self.last_status = last_status
        self.last_error = last_error
        message = (
            f"GET {url} failed {attempts} times in a row; last problem: {last_error}. "
            f"The exchange is overloaded, down, or unreachable from here. Check the "
            f"exchange's status page and this machine's network; the run can be restarted "
            f"later and resumes from its last committed state."
        )
        super().__init__(message, url=url)


class ExchangeUnreachableError(ExchangeAPIError):
    """The first connection to the exchange was refused: nothing listens at that address."""

    def __init__(self, *, url: str) -> None:
        """Name the URL and point at the setting that holds it."""
        message = (
            f"Cannot connect to GET {url}: the connection was refused, and nothing "
            f"at this address has answered since the tap started, so this is not retried. "
            f"Check api_url (scheme, host and port) in the tap config, and that the exchange "
            f"or the proxy/simulator it points at is running."
        )
        super().__init__(message, url=url)


def _advice(status: int) -> str:
    """What an operator should do about a given non-retryable status."""
    if status in (401, 403):
        return (
            "Check the API key/permissions in the tap config; a 403 may also be a WAF "
            "block of this IP."
        )
    if status == 404:
        return "Check the base URL and the endpoint path in the tap config."
    if status == 451:
        return (
            "The exchange refuses this location (Binance.com blocks US IPs): use the "
            "Binance.US base URL instead."
        )
    return "Check the symbol/product id and the request parameters in the tap config."
