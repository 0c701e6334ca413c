"""Path segments and output_uri: one encoding that every reader decodes exactly, one parser."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from schemahub_core.paths import (
    NAME_MAX_BYTES,
    OutputUriError,
    PathSegmentError,
    decode_segment,
    encode_segment,
    parse_output_uri,
    partition_path,
    partition_values,
)

# Any Unicode text a JSON string can carry, except what encode_segment refuses.
names = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1, max_size=60
)


@given(names)
def test_encoded_segment_decodes_to_the_value_and_is_one_plain_folder_name(value: str) -> None:
    segment = encode_segment(value, "symbol")
    assert decode_segment(segment) == value
    assert unquote(segment) == value  # what DuckDB and pyarrow's "uri" decoding do
    assert "/" not in segment
    assert "=" not in segment
    assert "\\" not in segment
    assert segment not in (".", "..")
    assert all(ord(c) >= 0x20 and c != "\x7f" for c in segment)


@given(names, names)
def test_partition_path_reads_back_its_values(exchange: str, symbol: str) -> None:
    path = partition_path(("exchange", exchange), ("symbol", symbol))
    assert partition_values(f"unified/t/{path}/date=2026-01-01/f.parquet") == {
        "exchange": exchange,
        "symbol": symbol,
        "date": "2026-01-01",
    }


def test_usual_names_are_left_as_they_are() -> None:
    for name in ("BTC-USD", "BTCUSDT", "coinbase_trades", "ETH.USD", "é€"):
        assert encode_segment(name, "symbol") == name


def test_percent_is_encoded_so_an_encoded_looking_symbol_stays_itself() -> None:
    assert encode_segment("BTC%2DUSD", "symbol") == "BTC%252DUSD"
    assert encode_segment("..", "stream name") == "%2E%2E"
    assert encode_segment("../../X", "stream name") == "..%2F..%2FX"


TRICKY = [f"a{chr(c)}b" for c in range(1, 128)] + [".", "..", "BTC%2DUSD", "%ZZ", "é€ 😀", "NULL"]


def test_duckdb_and_pyarrow_hive_reads_decode_every_ascii_character_exactly(
    tmp_path: Path,
) -> None:
    for number, value in enumerate(TRICKY):
        folder = tmp_path / partition_path(("symbol", value))
        folder.mkdir()
        pq.write_table(pa.table({"n": [number]}), folder / "f.parquet")
    expected = dict(enumerate(TRICKY))

    rows = duckdb.sql(
        f"SELECT n, symbol FROM read_parquet('{tmp_path}/*/*.parquet', hive_partitioning = true,"
        f" hive_types = {{'symbol': 'VARCHAR'}})"
    ).fetchall()
    assert dict(rows) == expected
    partitioning = ds.HivePartitioning(pa.schema([("symbol", pa.string())]), segment_encoding="uri")
    table = ds.dataset(tmp_path, format="parquet", partitioning=partitioning).to_table()
    assert dict(zip(table["n"].to_pylist(), table["symbol"].to_pylist(), strict=True)) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", r"symbol '' is empty"),
        ("BTC\x00USD", r"symbol 'BTC\\x00USD' contains a null byte"),
        ("a\ud800", r"symbol 'a\\ud800' is not valid Unicode"),
        (
            "S" * 300,
            r"symbol 'S{40}'… \(300 characters\) is too long .* 307 bytes, the limit is 255",
        ),
        ("__HIVE_DEFAULT_PARTITION__", r"read as NULL"),
    ],
)
def test_names_that_cannot_be_a_folder_are_refused_naming_the_value(
    value: str, message: str
) -> None:
    with pytest.raises(PathSegmentError, match=message):
        partition_path(("symbol", value))


def test_length_limit_counts_the_encoded_utf8_bytes_of_the_whole_folder_name() -> None:
    fits = "S" * (NAME_MAX_BYTES - len("symbol="))
    assert len(partition_path(("symbol", fits))) == NAME_MAX_BYTES
    with pytest.raises(PathSegmentError, match="256 bytes"):
        partition_path(("symbol", fits[:-1] + "é"))
    with pytest.raises(PathSegmentError, match="too long"):
        encode_segment("/" * 86, "stream name")  # 86 x "%2F" = 258 bytes


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://bucket/lake", "bucket", "lake"),
        ("s3://bucket/lake/", "bucket", "lake"),
        ("s3://bucket", "bucket", ""),
        ("s3://bucket/", "bucket", ""),
        ("s3://my.bucket-1/a/b%20c", "my.bucket-1", "a/b%20c"),  # taken literally
        ("S3://bucket/lake", "bucket", "lake"),
    ],
)
def test_s3_output_uris_parse_to_bucket_and_prefix(uri: str, bucket: str, prefix: str) -> None:
    location = parse_output_uri(uri)
    assert (location.bucket, location.prefix) == (bucket, prefix)
    assert location.path_of("unified/t") == "/".join(p for p in (bucket, prefix, "unified/t") if p)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://b/q?x=1#f", "query string or fragment"),
        ("s3://b/q#f", "query string or fragment"),
        ("s3://b//a//b/", "empty, '.' or '..' path segment"),
        ("s3://b/../x", "empty, '.' or '..' path segment"),
        ("s3://b/a/./x", "empty, '.' or '..' path segment"),
        ("s3:///lake", "no valid bucket name"),
        ("s3://user@b/lake", "no valid bucket name"),
        ("s3:/b/lake", "write an S3 location as s3://bucket/prefix"),
        ("gs://b/lake", "only s3://bucket/prefix and local folders"),
        ("", "is empty"),
    ],
)
def test_output_uris_no_tool_can_read_back_are_refused(uri: str, message: str) -> None:
    with pytest.raises(OutputUriError, match=message):
        parse_output_uri(uri)


def test_local_folders_resolve_to_absolute_paths(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    location = parse_output_uri("./out/../lake")
    assert not location.is_s3
    assert location.folder == os.path.join(str(tmp_path), "lake")
    assert location.path_of("unified/t") == os.path.join(str(tmp_path), "lake", "unified", "t")
