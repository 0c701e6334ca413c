"""Every use of a private singer-sdk member by SchemaHub's taps and target, in one place.

singer-sdk offers no public way to do a few things SchemaHub needs: advance a bookmark and
print a STATE after a tap wrote a whole page itself (the fast path, see fastpath.py), relay
a STATE only after the target committed the data it covers, reach the target's sinks
between SDK drains. Those touch private members, which a minor SDK release may rename or
change. They are all here, and `tests/test_sdk_seam.py` checks each against the installed
singer-sdk (version range and signatures), so an SDK upgrade breaks that one test, loudly,
instead of a tap or the target quietly doing something else.

The private hooks the target overrides (the SDK calls them; a renamed hook would be
silently skipped) are listed in `TARGET_HOOK_OVERRIDES` and checked by the same test.

singer-sdk is not imported at run time: schemahub-core does not depend on it (the taps and
the target do, pinned to `SUPPORTED_SINGER_SDK`).
"""

# This module is the one place allowed to use private singer-sdk members (see above).
# ruff: noqa: SLF001

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from singer_sdk import Sink, Stream, Tap, Target

    # The types of `Stream.get_batches`' parameters live in a private SDK module; the taps
    # and the target import them from here (for type checking only).
    from singer_sdk.helpers._batch import BaseBatchFileEncoding as BatchEncoding
    from singer_sdk.helpers._batch import BatchConfig as BatchConfig
    from singer_sdk.io_base import GenericSingerReader


# The singer-sdk releases this module was written and tested against. The pyprojects of the
# taps and the target pin the same range; widen both only after tests/test_sdk_seam.py passes.
SUPPORTED_SINGER_SDK = ">=0.54,<0.55"

# Private hooks of `singer_sdk.Target` that the target overrides, with their parameters.
# The SDK calls them (message callbacks, signal handlers); the pinned test checks they
# still exist with these parameters.
TARGET_HOOK_OVERRIDES: Mapping[str, tuple[str, ...]] = {
    "_process_state_message": ("self", "message_dict"),
    "_process_record_message": ("self", "message_dict"),
    "_process_batch_message": ("self", "message_dict"),
    "_handle_termination": ("self", "signum", "frame"),
}


# ---------------------------------------------------------------------------------- taps
def tap_of(stream: Stream) -> Tap:
    """The tap that created `stream` (singer-sdk keeps it in `Stream._tap`)."""
    return stream._tap


def advance_bookmark(stream: Stream, context: Mapping[str, Any] | None, value: Any) -> None:
    """Move `stream`'s bookmark for `context` to `value`, as if a record with it was written.

    Call only after the records up to `value` are written and flushed: the next STATE
    carries this bookmark.
    """
    assert stream.replication_key is not None, f"{stream.name} has no replication key"
    stream._increment_stream_state(
        {stream.replication_key: value},
        context=None if context is None else dict(context),
    )
    # What the SDK's `_write_record_message` does: there is state to print again.
    stream.state_manager.is_flushed = False


def write_stream_state(stream: Stream) -> None:
    """Print a STATE message with the tap's current state, unless it was already printed."""
    stream._write_state_message()


# -------------------------------------------------------------------------------- target
def active_sinks(target: Target) -> dict[str, Sink]:
    """The target's current sink of each stream, by stream name (the SDK's own dict)."""
    return target._sinks_active


def take_retired_sinks(target: Target) -> list[Sink]:
    """Sinks a new SCHEMA replaced, not drained yet; the target forgets them."""
    retired = target._sinks_to_clear
    target._sinks_to_clear = []
    return retired


def write_target_state(target: Target, state: dict) -> None:
    """Print `state` as the target's STATE line on stdout (the SDK's own writer)."""
    target._write_state_message(state)


def batch_encoding(message: Mapping[str, Any]) -> BatchEncoding:
    """The `encoding` of a BATCH message as singer-sdk parses it (`format`, `compression`)."""
    from singer_sdk.helpers._batch import BaseBatchFileEncoding

    return BaseBatchFileEncoding.from_dict(dict(message["encoding"]))


def refuse_unknown_message(reader: GenericSingerReader, message: dict) -> None:
    """Raise the SDK's error for a message whose `type` no callback handles."""
    reader._process_unknown_message(message)
