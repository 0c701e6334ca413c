"""What every SchemaHub tap has alike: its shared settings, its start, its stream mixins.

Each tap lists :func:`common_settings` first in its ``config_jsonschema`` and adds its
exchange-specific settings (products, pairs, weights, ...) after them; each calls
:func:`check_settings` once its config is parsed. The wording of a shared setting lives here
only, with the exchange-specific parts passed in. The streams that list an exchange's
products/symbols/pairs batch through :class:`JsonlBatches`; the trade streams are
:class:`FastTrades`.

singer-sdk is imported inside the functions: schemahub-core itself does not depend on it
(only the taps and core's tests do).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from schemahub_core.arrow_memory import use_system_allocator
from schemahub_core.batch_files import jsonl_batch_config, refuse_batch_with_transforms
from schemahub_core.log_redaction import protect_secrets, secret_settings
from schemahub_core.progress import StreamProgress

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap
    from singer_sdk.typing import Property

    from schemahub_core.sdk_seam import BatchConfig, BatchEncoding

    _Stream = Stream
else:  # a mixin at run time: schemahub-core does not import singer-sdk at import time
    _Stream = object

# Without a bookmark and without start_date, a tap reads this many minutes of recent trades.
DEFAULT_LOOKBACK_MINUTES = 45


def common_settings(
    *,
    tap_name: str,
    version: str,
    exchange: str,
    api_url: str,
    api_url_note: str,
    start_date_how: str,
    concurrency: int,
    concurrency_note: str,
    max_requests_per_second: float | None = None,
    rate_note: str = "",
) -> list[Property]:
    """The `th.Property` list of the settings every tap has, in the order taps list them.

    Args:
        tap_name: The tap's name (``tap-coinbase``); the User-Agent default starts with it.
        version: The tap's version, the rest of the User-Agent default.
        exchange: The exchange's name as it appears in prose (``Coinbase Exchange``).
        api_url: The production REST API's base URL (the default of ``api_url``).
        api_url_note: What else to know about ``api_url`` (other hosts, the simulator).
        start_date_how: How the tap finds the first trade at ``start_date`` without a scan.
        concurrency: Default of ``concurrency``.
        concurrency_note: What ``concurrency`` runs in parallel for this exchange.
        max_requests_per_second: Default of ``max_requests_per_second``; None when the tap
            paces itself otherwise (Binance counts request weight).
        rate_note: What ``max_requests_per_second`` limits at this exchange.
    """
    from singer_sdk import typing as th

    settings: list[Property] = [
        th.Property(
            "api_url",
            th.StringType,
            default=api_url,
            description=f"Base URL of the {exchange} REST API. {api_url_note}",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description=(
                "Without a saved bookmark, start at the first trade at or after this time "
                f"({start_date_how}). A bookmark always wins over start_date."
            ),
        ),
        th.Property(
            "lookback_minutes",
            th.NumberType,
            default=DEFAULT_LOOKBACK_MINUTES,
            description=(
                "Without a bookmark and without start_date, read only the trades of the last "
                "N minutes (a safe cold start instead of all history)."
            ),
        ),
        th.Property(
            "concurrency",
            th.IntegerType,
            default=concurrency,
            description=concurrency_note,
        ),
        th.Property(
            "user_agent",
            th.StringType,
            default=f"{tap_name}/{version}",
            description="User-Agent header sent with every request.",
        ),
    ]
    if max_requests_per_second is not None:
        settings.append(
            th.Property(
                "max_requests_per_second",
                th.NumberType,
                default=max_requests_per_second,
                description=f"Client-side rate limit: {rate_note}",
            )
        )
    return settings


def check_settings(tap: Tap) -> None:
    """Start of every tap once its config is parsed: secrets out of the logs, no unsafe BATCH.

    The values of the settings marked ``secret`` are redacted from every log line from now on,
    and ``batch_config`` combined with a record transform is refused
    (:func:`schemahub_core.batch_files.refuse_batch_with_transforms`). Arrow allocates with
    the system allocator (:mod:`schemahub_core.arrow_memory`).
    """
    protect_secrets(secret_settings(tap.config, tap.config_jsonschema))
    refuse_batch_with_transforms(tap)
    use_system_allocator()


class JsonlBatches(_Stream):
    """Mixin of a listing stream (products, symbols, pairs): its BATCH files are gzip JSONL.

    Listed before singer-sdk's `Stream` in the bases. See
    :func:`schemahub_core.batch_files.jsonl_batch_config` for why (nested fields).
    """

    def get_batches(
        self, batch_config: BatchConfig, context: Any = None
    ) -> Iterable[tuple[BatchEncoding, list[str]]]:
        """singer-sdk's batches of this stream, always gzip JSONL."""
        return super().get_batches(jsonl_batch_config(batch_config), context)


class FastTrades(_Stream):
    """Mixin of a trade stream: ascending trade ids, RECORD lines by core's fast path.

    Listed before singer-sdk's `Stream` in the bases. The stream writes its records through
    :class:`schemahub_core.fastpath.PageWriter` whenever
    :func:`schemahub_core.fastpath.fast_path_allowed` says singer-sdk would not change them.
    """

    is_sorted = True
    # Class switch so tests and the benchmark can force singer-sdk's own record path.
    allow_fast_emission = True

    @functools.cached_property
    def stream_progress(self) -> StreamProgress:
        """The totals across every partition of this run, shared by their progress lines."""
        return StreamProgress()
