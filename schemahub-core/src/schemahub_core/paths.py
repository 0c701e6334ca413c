r"""Names that become paths: one encoding of path segments and one `output_uri` parser.

Every value that becomes a folder name in the lake (a stream name under `raw/` and
`rejects/`, the exchange and symbol partition values of `trades_unified` and of its commit
log) goes through `encode_segment`, and every reader decodes with `decode_segment` or an
equivalent URI decoder:

- Hive-style percent-encoding, as Hive's `FileUtils.escapePathName` and Spark do: `%XX`
  (upper-case hex of the UTF-8 bytes) for control characters, DEL and ``"#%'*/:=?\{[]^``;
  every other character, non-ASCII included, is kept as is, so `BTC-USD` stays `BTC-USD`.
- The whole segments `.` and `..` become `%2E` and `%2E%2E`.
- `%` itself is encoded, so decoding is exact: `BTC%2DUSD` is stored as `BTC%252DUSD`.

DuckDB's `hive_partitioning` (from 1.1 on; tested with 2.0) and pyarrow's `HivePartitioning` with
`segment_encoding="uri"` (its default) both decode `%XX` and nothing else (`+` stays `+`),
which is exactly `urllib.parse.unquote`: they read back the value that was encoded.

Refused, with a message naming the value: the empty name, a null byte (no file system or
S3 listing can carry it), a lone surrogate (not encodable as UTF-8), a segment longer than
255 bytes (the file-name limit of local file systems; S3 gets the same limit so a lake can be
copied to disk), and `__HIVE_DEFAULT_PARTITION__` as a partition value (Hive readers read it
as NULL).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import quote_plus, unquote

NAME_MAX_BYTES = 255
HIVE_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# Hive's escapePathName set (FileUtils.charToEscape), control characters from 0x01 on.
_ESCAPED = frozenset([*map(chr, range(0x01, 0x20)), *"\"#%'*/:=?\\\x7f{[]^"])
_DOT_SEGMENTS = {".": "%2E", "..": "%2E%2E"}
_URI_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"^[A-Za-z0-9._-]+$")


class PathSegmentError(ValueError):
    """A name cannot become a folder name: empty, a null byte, too long, or reserved."""


class OutputUriError(ValueError):
    """An `output_uri` that names no location this project can write and read back."""


def _shown(value: str) -> str:
    """The value for an error message: its repr, cut when long."""
    if len(value) <= 60:
        return repr(value)
    return f"{value[:40]!r}… ({len(value)} characters)"


def encode_segment(value: str, what: str) -> str:
    """`value` as one path segment (Hive-style `%XX`); `what` ("stream name", ...) names it."""
    return _checked(_encode(value, what), value, what)


def _encode(value: str, what: str) -> str:
    if not value:
        raise PathSegmentError(
            f"{what} {value!r} is empty: it cannot be a folder name. Fix the tap or the "
            f"mapping that produced it."
        )
    if "\x00" in value:
        raise PathSegmentError(
            f"{what} {_shown(value)} contains a null byte, which no file or object name can "
            f"hold. Fix the tap or the mapping that produced it."
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PathSegmentError(
            f"{what} {_shown(value)} is not valid Unicode ({exc.reason}). Fix the tap or the "
            f"mapping that produced it."
        ) from exc
    if value in _DOT_SEGMENTS:
        return _DOT_SEGMENTS[value]
    if _ESCAPED.isdisjoint(value):
        return value  # the usual name (BTC-USD, coinbase_trades): nothing to escape
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in value)


def _checked(segment: str, value: str, what: str) -> str:
    size = len(segment.encode("utf-8"))
    if size > NAME_MAX_BYTES:
        raise PathSegmentError(
            f"{what} {_shown(value)} is too long for a file or folder name: its folder name "
            f"would be {size} bytes, the limit is {NAME_MAX_BYTES}. Fix the tap or the "
            f"mapping that produced it."
        )
    return segment


def decode_segment(segment: str) -> str:
    """The value `encode_segment` encoded into `segment` (`%XX` decoded, as DuckDB does)."""
    return unquote(segment)


def partition_path(*pairs: tuple[str, str]) -> str:
    """Hive partition folders `key=value/...` with each value encoded by `encode_segment`."""
    folders = []
    for key, value in pairs:
        if value == HIVE_NULL_PARTITION:
            raise PathSegmentError(
                f"{key} {value!r} is the partition value Hive readers (pyarrow, DuckDB, "
                f"Athena) read as NULL; a trade's {key} cannot be stored under it. Fix the tap "
                f"or the mapping that produced it."
            )
        folders.append(_checked(f"{key}={_encode(value, key)}", value, key))
    return "/".join(folders)


def check_iceberg_partition_values(*pairs: tuple[str, str]) -> None:
    """Refuse the values `partition_path` refuses, and any too long for pyiceberg's folders.

    pyiceberg names an Iceberg table's partition folders itself, `key=` + `quote_plus(value)`
    (every byte but letters, digits and `_.-~` as `%XX`, so nothing can leave the table's
    folder); that expands non-ASCII three-fold, so its length is checked too. The same
    values are refused in both table formats, so a table can move between them.
    """
    partition_path(*pairs)
    for key, value in pairs:
        _checked(f"{key}={quote_plus(value, safe='')}", value, key)


def partition_values(path: str) -> dict[str, str]:
    """The decoded `key=value` partition folders of a `/`-separated path."""
    pairs = (segment.split("=", 1) for segment in path.split("/") if "=" in segment)
    return {key: decode_segment(value) for key, value in pairs}


@dataclass(frozen=True)
class OutputLocation:
    """A parsed `output_uri`: an S3 bucket and key prefix, or an absolute local folder."""

    bucket: str = ""  # empty for a local folder
    prefix: str = ""  # S3 key prefix without leading or trailing '/'; '' is the bucket root
    folder: str = ""  # absolute local folder; empty on S3

    @property
    def is_s3(self) -> bool:
        """Whether the location is on S3."""
        return bool(self.bucket)

    def path_of(self, key: str) -> str:
        """The path of `key` (relative to the root) for pyarrow: `bucket/prefix/key` or local."""
        if self.is_s3:
            return "/".join(part for part in (self.bucket, self.prefix, key) if part)
        return os.path.join(self.folder, *key.split("/"))


def parse_output_uri(uri: str) -> OutputLocation:
    """Parse `output_uri` (`s3://bucket/prefix` or a local folder), the one way for every tool.

    S3 prefixes are taken literally (no `%XX` decoding); trailing slashes are dropped. Refused
    with a message: query strings and fragments (`?`, `#`: a URI would drop them, an S3 key
    would keep them), empty segments (`//`), `.` and `..` segments, schemes other than s3.
    """
    if not uri or "\x00" in uri:
        raise OutputUriError(
            f"output_uri {uri!r} is empty or holds a null byte: use a folder or s3://bucket/prefix"
        )
    scheme = _URI_SCHEME.match(uri)
    if scheme is None:
        if uri.lower().startswith("s3:"):
            raise OutputUriError(f"output_uri {uri!r}: write an S3 location as s3://bucket/prefix")
        return OutputLocation(folder=os.path.abspath(uri))
    if scheme.group(1).lower() != "s3":
        raise OutputUriError(
            f"output_uri {uri!r}: only s3://bucket/prefix and local folders are supported"
        )
    rest = uri[scheme.end() :]
    if "?" in rest or "#" in rest:
        raise OutputUriError(
            f"output_uri {uri!r} has a query string or fragment ('?' or '#'), which S3 tools "
            f"read differently (dropped, or kept as part of the key): use s3://bucket/prefix "
            f"with neither character"
        )
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise OutputUriError(
            f"output_uri {uri!r} has no valid bucket name ({bucket!r}): use s3://bucket/prefix"
        )
    prefix = prefix.rstrip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise OutputUriError(
            f"output_uri {uri!r} has an empty, '.' or '..' path segment, which S3 keeps "
            f"literally but file-system tools collapse: write the prefix without '//', '.' "
            f"and '..' segments (e.g. s3://{bucket}/lake)"
        )
    return OutputLocation(bucket=bucket, prefix=prefix)
