"""When a tap may write RECORD lines itself instead of through singer-sdk's per-record path.

singer-sdk builds, conforms, maps and serialises each record separately, which caps a tap at
a few thousand to tens of thousands of records per second. When no stream map, flattening,
field deselection, BATCH mode or dry-run record limit applies, each of those steps is the
identity, so a tap may format whole pages itself (byte-identical lines, tested per tap).
singer-sdk is imported lazily: schemahub-core itself does not depend on it.
"""

from __future__ import annotations

from typing import Any


def fast_path_allowed(stream: Any) -> bool:
    """True when singer-sdk would emit `stream`'s records unchanged, one RECORD line each."""
    from singer_sdk.mapper import SameRecordTransform

    if stream.get_batch_config(stream.config) or stream.ABORT_AT_RECORD_COUNT is not None:
        return False
    if stream.child_streams:
        return False
    maps = stream.stream_maps
    if len(maps) != 1 or type(maps[0]) is not SameRecordTransform:
        return False
    if maps[0].flattening_enabled or maps[0].stream_alias != stream.name:
        return False
    return all(stream.mask.values())
