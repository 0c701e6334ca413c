"""The taps' fast path: RECORD lines written a page at a time, and the bookmark they resume from.

singer-sdk builds, conforms, maps and serialises each record separately, which caps a tap at
a few thousand to tens of thousands of records per second. When no stream map, flattening,
field deselection, BATCH mode or dry-run record limit applies, each of those steps is the
identity, so a tap may format whole pages itself (byte-identical lines, tested per tap) and
hand them to a `PageWriter`, which writes them and keeps the SDK's bookkeeping (bookmark,
STATE cadence, record count). singer-sdk is not imported: schemahub-core does not depend on
it; its private members are reached only through `sdk_seam`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

from schemahub_core.metrics import log_metric
from schemahub_core.sdk_seam import advance_bookmark, write_stream_state

if TYPE_CHECKING:
    from singer_sdk import Stream


def transforms_in_effect(stream: Stream) -> list[str]:
    """What singer-sdk would change in `stream`'s records: maps, flattening, deselection.

    Empty when the SDK would emit the records unchanged (the fast path and the BATCH lane
    both rely on that).
    """
    from singer_sdk.mapper import SameRecordTransform

    maps = stream.stream_maps
    found = []
    if len(maps) != 1 or type(maps[0]) is not SameRecordTransform:
        found.append("stream_maps")
    elif maps[0].stream_alias != stream.name:
        found.append("stream_maps (alias)")
    if any(getattr(m, "flattening_enabled", False) for m in maps):
        found.append("flattening_enabled")
    if not all(stream.mask.values()):
        found.append("deselected fields in the catalog")
    return found


def fast_path_allowed(stream: Stream) -> bool:
    """True when singer-sdk would emit `stream`'s records unchanged, one RECORD line each.

    A stream class may set `allow_fast_emission = False` to force the SDK's own path (tests
    and benchmarks compare the two).
    """
    if not getattr(stream, "allow_fast_emission", True):
        return False
    if stream.get_batch_config(stream.config) or stream.ABORT_AT_RECORD_COUNT is not None:
        return False
    if stream.child_streams:
        return False
    return not transforms_in_effect(stream)


class PageWriter:
    """Writes one partition's RECORD lines, a page at a time, with singer-sdk's bookkeeping."""

    def __init__(
        self, stream: Stream, context: Mapping[str, Any], out: TextIO | None = None
    ) -> None:
        """`out` defaults to `sys.stdout` as it is at each write (tests redirect it)."""
        self.stream = stream
        self.context = context
        self.written = 0
        self._out = out

    def write(self, lines: str, count: int, bookmark: Any) -> None:
        """Write `count` RECORD lines whose last record has replication key `bookmark`.

        The lines are flushed before the bookmark moves, so a STATE never covers a record
        that is not on stdout yet; a STATE is printed whenever the SDK's own path would
        have printed one (every `STATE_MSG_FREQUENCY` records of the partition).
        """
        if count == 0:
            return
        out = self._out or sys.stdout
        out.write(lines)
        out.flush()
        advance_bookmark(self.stream, self.context, bookmark)
        every = self.stream.STATE_MSG_FREQUENCY
        if self.written // every != (self.written + count) // every:
            write_stream_state(self.stream)
        self.written += count

    def log_record_count(self, endpoint: str) -> None:
        """Log the partition's record count: the SDK's own counter reads 0 for these lines."""
        tags = {"endpoint": endpoint, "context": dict(self.context), "path": "page_writer"}
        log_metric(self.stream.metrics_logger, "counter", "record_count", self.written, tags)


def integer_bookmark(stream: Stream, context: Mapping[str, Any] | None) -> int | None:
    """The partition's integer bookmark (last id delivered), or None when it has none.

    Read from the partition state itself: where no bookmark exists, singer-sdk's
    `get_starting_replication_key_value` hands back the config `start_date` string even for
    an integer key. A bookmark written as digits (a hand-edited state) counts too.
    """
    value = stream.get_context_state(None if context is None else dict(context)).get(
        "replication_key_value"
    )
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def cold_start_time(config: Mapping[str, Any]) -> datetime:
    """Where a partition without a bookmark starts: `start_date`, else now - `lookback_minutes`.

    A `start_date` without a UTC offset is read as UTC; a trailing `Z` is accepted.
    """
    start_date = config.get("start_date")
    if start_date:
        start = datetime.fromisoformat(str(start_date).replace("Z", "+00:00"))
        return start if start.tzinfo else start.replace(tzinfo=UTC)
    return datetime.now(UTC) - timedelta(minutes=float(config["lookback_minutes"]))
