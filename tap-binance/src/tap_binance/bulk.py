"""Binance public trade dumps (data.binance.vision): plan, download, verify, read as Arrow.

Daily files cover one UTC day, monthly files one UTC month. A file is read as a stream of
Arrow record batches straight out of the zip, never loaded whole. Times are converted to
microseconds (files dated before 2025-01-01 carry milliseconds).
"""

from __future__ import annotations

import calendar
import hashlib
import io
import logging
import struct
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import requests
from isal import isal_zlib
from schemahub_core.errors import FatalAPIError
from schemahub_core.http import RETRYABLE_EXCEPTIONS, ExchangeClient

MICROSECOND_DUMPS_FROM = date(2025, 1, 1)
TRADE_COLUMNS = ["id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"]
_COLUMN_TYPES = {
    "id": pa.int64(),
    "price": pa.string(),
    "qty": pa.string(),
    "quoteQty": pa.string(),
    "time": pa.int64(),
    "isBuyerMaker": pa.bool_(),
    "isBestMatch": pa.bool_(),
}
# The columns of a trade as the dumps are read (REST pages become the same in the BATCH lane).
TRADE_SCHEMA = pa.schema(list(_COLUMN_TYPES.items()))
_DOWNLOAD_ATTEMPTS = 4
_BLOCK_SIZE = 4 << 20
_DOWNLOAD_RETRYABLE: tuple[type[BaseException], ...] = (*RETRYABLE_EXCEPTIONS, requests.HTTPError)
# isal's type stub declares `error` as an instance; it is the exception class.
_INFLATE_ERROR = cast("type[Exception]", isal_zlib.error)


class DumpError(Exception):
    """A dump file that cannot be used (checksum mismatch twice, bad content)."""


@dataclass(frozen=True)
class DumpPeriod:
    """One dump file: a whole UTC day (daily) or a whole UTC month (monthly)."""

    kind: str  # "daily" or "monthly"
    first_day: date
    last_day: date

    @property
    def label(self) -> str:
        """The date part of the file name: 2024-01-01 (daily) or 2024-01 (monthly)."""
        return (
            self.first_day.isoformat() if self.kind == "daily" else self.first_day.isoformat()[:7]
        )

    @property
    def times_in_ms(self) -> bool:
        """True when the file's times are milliseconds (files dated before 2025-01-01)."""
        return self.first_day < MICROSECOND_DUMPS_FROM

    def days(self) -> list[DumpPeriod]:
        """The daily periods making up this period."""
        count = (self.last_day - self.first_day).days + 1
        days = (self.first_day + timedelta(n) for n in range(count))
        return [DumpPeriod("daily", day, day) for day in days]


def plan_periods(start_day: date, end_day: date) -> list[DumpPeriod]:
    """Dump files covering ``start_day`` up to (excluding) ``end_day``.

    Monthly files for whole months inside the range, daily files for the rest.
    """
    periods: list[DumpPeriod] = []
    day = start_day
    while day < end_day:
        month_last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        if day.day == 1 and month_last < end_day:
            periods.append(DumpPeriod("monthly", day, month_last))
            day = month_last + timedelta(1)
        else:
            periods.append(DumpPeriod("daily", day, day))
            day += timedelta(1)
    return periods


class DumpStore:
    """Downloads dump files with their SHA-256 sidecar into a private temporary folder."""

    def __init__(self, bulk_url: str, logger: logging.Logger) -> None:
        """Files come from ``bulk_url`` (https://data.binance.vision or a mirror)."""
        self.bulk_url = bulk_url.rstrip("/")
        self.logger = logger
        self.client = ExchangeClient(self.bulk_url, concurrency=2, logger=logger)
        self._workdir = tempfile.TemporaryDirectory(prefix="tap-binance-dumps-")

    def url_of(self, symbol: str, period: DumpPeriod) -> str:
        """URL of the zip of ``symbol`` for ``period``."""
        return (
            f"{self.bulk_url}/data/spot/{period.kind}/trades/{symbol}/"
            f"{symbol}-trades-{period.label}.zip"
        )

    def fetch(self, symbol: str, period: DumpPeriod) -> Path | None:
        """Download and verify one zip; None when it is not published (HTTP 404)."""
        url = self.url_of(symbol, period)
        expected = self._expected_sha256(url)
        if expected is None:
            return None
        target = Path(self._workdir.name) / url.rsplit("/", 1)[1]
        for attempt in (1, 2):
            actual = self._download(url, target)
            if actual is None:
                return None
            if actual == expected:
                return target
            self.logger.warning(
                "Dump %s: SHA-256 %s does not match its .CHECKSUM %s (attempt %d of 2)",
                url,
                actual,
                expected,
                attempt,
            )
        target.unlink(missing_ok=True)
        raise DumpError(
            f"The dump file {url} failed its SHA-256 check twice (got {actual}, .CHECKSUM says "
            f"{expected}). The file or its mirror is corrupt; nothing from it was emitted. "
            "Retry later, or set backfill_source: rest to fetch these trades over the REST API."
        )

    def close(self) -> None:
        """Delete downloaded files and close connections."""
        self.client.close()
        self._workdir.cleanup()

    def _expected_sha256(self, url: str) -> str | None:
        """The hex digest from ``<url>.CHECKSUM`` (``sha256sum`` format); None on 404."""
        try:
            text = self.client.get(url + ".CHECKSUM").text
        except FatalAPIError as error:
            if error.status == 404:
                return None
            raise
        digest = text.split()[0].lower() if text.split() else ""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise DumpError(f"{url}.CHECKSUM is not in sha256sum format: {text[:100]!r}")
        return digest

    def _download(self, url: str, target: Path) -> str | None:
        """Stream ``url`` to ``target``, return its SHA-256; None on 404.

        Transient errors (5xx, resets, cut bodies) are retried with the client's backoff.
        """
        delays = self.client.backoff_delays()
        next(delays)
        for attempt in range(1, _DOWNLOAD_ATTEMPTS + 1):
            digest = hashlib.sha256()
            try:
                with self.client.session.get(url, stream=True, timeout=(5, 60)) as response:
                    if response.status_code == 404:
                        return None
                    self.client.raise_for_fatal(response)
                    response.raise_for_status()
                    with target.open("wb") as out:
                        for chunk in response.iter_content(1 << 20):
                            digest.update(chunk)
                            out.write(chunk)
                return digest.hexdigest()
            except _DOWNLOAD_RETRYABLE as error:
                if attempt == _DOWNLOAD_ATTEMPTS:
                    raise
                delay = delays.send(error)
                self.logger.warning(
                    "Dump %s download attempt %d failed (%s); retrying in %.1f s",
                    url,
                    attempt,
                    error,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")


def read_dump(path: Path, period: DumpPeriod) -> Iterator[pa.RecordBatch]:
    """Stream the trades of one verified zip as Arrow batches (times in microseconds)."""
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.namelist() if m.endswith(".csv")]
        if len(members) != 1:
            raise DumpError(f"{path.name} should hold exactly one CSV, found {members}")
        with _open_member(path, archive, archive.getinfo(members[0])) as csv_file:
            has_header = not csv_file.peek(1)[:1].isdigit()
            try:
                reader = pacsv.open_csv(
                    csv_file,
                    read_options=pacsv.ReadOptions(
                        column_names=TRADE_COLUMNS,
                        skip_rows=1 if has_header else 0,
                        block_size=_BLOCK_SIZE,
                    ),
                    convert_options=pacsv.ConvertOptions(
                        column_types=_COLUMN_TYPES,
                        true_values=["True", "true"],
                        false_values=["False", "false"],
                        strings_can_be_null=False,
                        quoted_strings_can_be_null=False,
                    ),
                )
                for batch in reader:
                    yield _checked(batch, path.name, period.times_in_ms)
            except pa.ArrowInvalid as error:
                raise DumpError(
                    f"{path.name} is not a valid trades CSV ({error}); expected the columns "
                    f"{', '.join(TRADE_COLUMNS)} with True/False booleans."
                ) from error


def _open_member(
    path: Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo
) -> io.BufferedReader:
    """The bytes of one zip member: a deflated one inflated with ISA-L, others by zipfile."""
    if member.compress_type != zipfile.ZIP_DEFLATED or member.flag_bits & 0x1:  # 0x1: encrypted
        return io.BufferedReader(cast("io.RawIOBase", archive.open(member)), _BLOCK_SIZE)
    return io.BufferedReader(_InflatedMember(path, member), _BLOCK_SIZE)


class _InflatedMember(io.RawIOBase):
    """A deflated zip member inflated with ISA-L (about twice zlib's speed), CRC-checked.

    Reads as `zipfile` does (the data after the member's local header, `compress_size`
    bytes) and fails like it on a damaged member: wrong CRC-32 or size, or a cut stream.
    """

    def __init__(self, path: Path, member: zipfile.ZipInfo) -> None:
        """Open `path` at the data of `member`; nothing is inflated yet."""
        super().__init__()
        self._name = f"{path.name}: {member.filename}"
        self._member = member
        self._file = path.open("rb")
        self._file.seek(member.header_offset)
        header = self._file.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            self._file.close()
            raise DumpError(f"{self._name}: the zip entry has no valid local header")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        self._file.seek(member.header_offset + 30 + name_length + extra_length)
        self._left = member.compress_size
        self._inflater = isal_zlib.decompressobj(-15)
        self._pending = memoryview(b"")
        self._crc = 0
        self._size = 0

    def readable(self) -> bool:
        """A readable stream."""
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill `buffer` with inflated bytes; 0 at the end, once the member checked out."""
        while not self._pending:
            if self._left == 0:
                self._check_end()
                return 0
            chunk = self._file.read(min(self._left, _BLOCK_SIZE))
            if not chunk:
                raise DumpError(f"{self._name}: the zip file ends inside this member")
            self._left -= len(chunk)
            try:
                data = self._inflater.decompress(chunk)
                if self._left == 0:
                    data += self._inflater.flush()
            except _INFLATE_ERROR as error:
                raise DumpError(f"{self._name}: corrupt deflate data ({error})") from error
            self._crc = isal_zlib.crc32(data, self._crc)
            self._size += len(data)
            self._pending = memoryview(data)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def _check_end(self) -> None:
        member = self._member
        if not self._inflater.eof or self._size != member.file_size or self._crc != member.CRC:
            raise DumpError(
                f"{self._name}: the inflated member fails its CRC-32 or size check (corrupt zip)"
            )

    def close(self) -> None:
        """Close the zip file too."""
        self._file.close()
        super().close()


def _checked(batch: pa.RecordBatch, name: str, times_in_ms: bool) -> pa.RecordBatch:
    """Validate decimals, nulls and order of one batch; convert times to microseconds.

    Decimal strings are emitted verbatim (also inside hand-written JSON on the fast path):
    anything but digits with one dot is rejected instead of being passed on.
    """
    if batch.num_rows == 0:
        return batch
    for column in ("price", "qty", "quoteQty"):
        digits = pc.replace_substring(batch[column], ".", "", max_replacements=1)
        if not pc.all(pc.ascii_is_decimal(digits)).as_py():
            raise DumpError(f"{name}: column {column} holds a value that is not a decimal number")
    for column in TRADE_COLUMNS:
        if batch[column].null_count:
            raise DumpError(f"{name}: column {column} has empty values")
    ids = batch["id"]
    if batch.num_rows > 1 and not pc.all(pc.greater(ids[1:], ids[:-1])).as_py():
        raise DumpError(f"{name}: trade ids are not strictly ascending")
    if not times_in_ms:
        return batch
    times = pc.multiply_checked(batch["time"], 1000)
    return batch.set_column(TRADE_COLUMNS.index("time"), "time", times)


def select_ids(batch: pa.RecordBatch, first_id: int, last_id: int) -> pa.RecordBatch:
    """The rows of ``batch`` with ``first_id <= id <= last_id`` (``batch`` itself if all are)."""
    ids = batch["id"]
    bounds = pc.min_max(ids)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if not ids.null_count and (low is None or (first_id <= low and high <= last_id)):
        return batch  # the usual dump batch: no filtered copy of every column
    return batch.filter(pc.and_(pc.greater_equal(ids, first_id), pc.less_equal(ids, last_id)))
