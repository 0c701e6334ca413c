"""The byte layout of a Singer RECORD line, shared by the taps' writers and the target's cutter.

singer-sdk writes each RECORD as `{"type":"RECORD","stream":<name>,"record":{...},
"time_extracted":"<ts>"}` on one line: compact separators, ASCII escapes, those keys in that
order. The taps' fast path writes the same bytes a whole page at a time, and the target
recognises lines of that layout to cut records out of a block without decoding each line
(`target_s3_parquet.record_lines`). Both take the layout from here, so they cannot drift.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# (head, gap) of a RECORD line: `head % <stream name as JSON>` comes before the record, `gap`
# between the record and the time_extracted text. First singer-sdk's compact form, then
# Python's `json.dumps` default form (a space after each `,` and `:`), which hand-written
# taps produce.
COMPACT_FORM = (b'{"type":"RECORD","stream":%s,"record":', b',"time_extracted":"')
SPACED_FORM = (b'{"type": "RECORD", "stream": %s, "record": ', b', "time_extracted": "')
RECORD_LINE_FORMS = (COMPACT_FORM, SPACED_FORM)

# singer-sdk's serialisation: compact separators, non-ASCII escaped.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
encode_json = _ENCODER.encode


def record_prefix(stream_name: str) -> str:
    """What precedes the record object on a RECORD line of `stream_name`."""
    return (COMPACT_FORM[0] % encode_json(stream_name).encode()).decode()


def time_extracted_now() -> str:
    """The current time as a RECORD's time_extracted (ISO 8601, UTC offset)."""
    return datetime.now(UTC).isoformat(sep="T")


def line_end(time_extracted: str) -> str:
    """What follows the record object on a RECORD line: time_extracted and the newline."""
    # The compact gap ends with the opening quote, which encode_json writes itself.
    return COMPACT_FORM[1][:-1].decode() + encode_json(time_extracted) + "}\n"


def record_end(constants: Mapping[str, Any], time_extracted: str) -> str:
    """What follows a record's own fields, up to and including the newline.

    That is `constants` (fields equal on every record of the page, in order), the record's
    closing brace, then `line_end`.
    """
    fields = "".join(
        f",{encode_json(key)}:{encode_json(value)}" for key, value in constants.items()
    )
    return fields + "}" + line_end(time_extracted)
