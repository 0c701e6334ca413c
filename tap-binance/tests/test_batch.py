"""The BATCH lane: batch files with the RECORDs' fields and types, then BATCH and STATE."""

from __future__ import annotations

import copy
import gzip
import json
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from schemahub_core.batch_files import BatchConfigError
from tap_binance.streams import TradesStream
from tap_binance.tap import TapBinance
from tap_binance_testkit import base_config, bookmark, run_tap

SYMBOL = "LTCBTC"  # a few hundred trades a day, history from 2024-12-01


@pytest.fixture
def dump_sim(sim_factory):
    """Market time 2025-01-03 12:00 UTC: dumps exist for every day up to 2025-01-02."""
    return sim_factory("binance", seed=9, clock="frozen", start_time="2025-01-03T12:00:00Z")


def batch_config(root, fmt: str, compression: str | None = None, size: int = 700) -> dict:
    encoding = (
        {"format": fmt} if compression is None else {"format": fmt, "compression": compression}
    )
    return {"encoding": encoding, "storage": {"root": root.as_uri()}, "batch_size": size}


CONSTANT_FIELDS = {"symbol", "base_asset", "quote_asset", "exchange"}


def read_batch(message: dict) -> pa.Table:
    """The rows of one BATCH message's files, as Arrow."""
    tables = []
    for url in message["manifest"]:
        path = urlparse(url).path
        if message["encoding"]["format"] == "parquet":
            tables.append(pq.read_table(path))
        else:
            opener = gzip.open if message["encoding"].get("compression") == "gzip" else open
            with opener(path, "rt") as lines:
                tables.append(pa.Table.from_pylist([json.loads(line) for line in lines]))
    return pa.concat_tables(tables)


@pytest.mark.parametrize(
    ("fmt", "compression"),
    [("parquet", None), ("parquet", "gzip"), ("jsonl", "gzip"), ("jsonl", "none")],
)
def test_dump_backfill_batches_hold_the_records_then_state_follows(
    dump_sim, tmp_path, monkeypatch, fmt, compression
):
    config = base_config(
        dump_sim, symbols=[SYMBOL], start_date="2024-12-31T00:00:00Z", backfill_source="bulk"
    )
    records = run_tap(config)

    def no_records(self, context):
        raise AssertionError("the BATCH lane went through Python records")

    # Dump batches go from Arrow to the files, never through get_records' dicts.
    monkeypatch.setattr(TradesStream, "get_records", no_records)
    batched = run_tap({**config, "batch_config": batch_config(tmp_path, fmt, compression)})

    assert not batched.records()
    trades = [m for m in batched.messages if m.get("stream") == "binance_trades"]
    batches = [m for m in trades if m["type"] == "BATCH"]
    assert len(batches) >= 2
    rows = pa.concat_tables(read_batch(m) for m in batches)
    assert rows.to_pylist() == records.records()
    if fmt == "parquet":
        assert rows.schema.field("time").type == pa.int64()
        assert rows.schema.field("price").type == pa.string()
        # Files the target reads whole once: no statistics, a dictionary only for the
        # columns equal on every row (write cost), in the files of dumps and of REST alike.
        for message in batches:
            meta = pq.ParquetFile(urlparse(message["manifest"][0]).path).metadata
            chunks = [meta.row_group(0).column(i) for i in range(meta.num_columns)]
            assert not any(c.is_stats_set for c in chunks)
            assert {c.path_in_schema for c in chunks if c.has_dictionary_page} == CONSTANT_FIELDS
            assert {c.compression for c in chunks} == {"GZIP" if compression else "SNAPPY"}
    # Each BATCH is followed by a STATE whose bookmark is the batch's last trade id.
    for message in batches:
        following = batched.messages[batched.messages.index(message) + 1]
        assert following["type"] == "STATE"
        assert bookmark(following["value"], SYMBOL) == read_batch(message)["id"][-1].as_py()
    assert batched.final_state == records.final_state
    # Symbols have nested fields: gzip JSONL batches whatever the trades' encoding.
    symbols = [
        m for m in batched.messages if m["type"] == "BATCH" and m["stream"] == "binance_symbols"
    ]
    assert [m["encoding"] for m in symbols] == [{"format": "jsonl", "compression": "gzip"}]


def test_rest_pages_are_batched_too(sim_factory, tmp_path):
    sim = sim_factory("binance", seed=11, rate_limit=False, clock="frozen")
    config = base_config(sim)
    start = sim.oracle.newest_id("BTCUSDT") - 1_000
    state = {
        "bookmarks": {
            "binance_trades": {
                "partitions": [{"context": {"symbol": "BTCUSDT"}, "replication_key_value": start}]
            }
        }
    }
    records = run_tap(config, state=copy.deepcopy(state))
    batched = run_tap(
        {**config, "batch_config": batch_config(tmp_path, "jsonl", "gzip", 300)}, state=state
    )
    batches = [m for m in batched.messages if m.get("stream") == "binance_trades"]
    batches = [m for m in batches if m["type"] == "BATCH"]
    assert len(records.records()) == 1_000
    rows = pa.concat_tables(read_batch(m) for m in batches)
    assert rows.to_pylist() == records.records()
    assert bookmark(batched.final_state, "BTCUSDT") == records.records()[-1]["id"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"stream_maps": {"binance_trades": {"price_x2": "float(price) * 2"}}}, "stream_maps"),
        ({"flattening_enabled": True, "flattening_max_depth": 1}, "flattening_enabled"),
    ],
    ids=["stream-maps", "flattening"],
)
def test_batch_config_with_record_transforms_is_refused(sim_factory, tmp_path, extra, named):
    sim = sim_factory("binance", seed=12, rate_limit=False)
    config = {**base_config(sim), "batch_config": batch_config(tmp_path, "parquet"), **extra}
    with pytest.raises(BatchConfigError, match=f"binance_trades: .*{named}"):
        TapBinance(config=config, parse_env_config=False)


def test_discovery_with_batch_config_and_stream_maps_still_answers(sim_factory, tmp_path):
    sim = sim_factory("binance", seed=13, rate_limit=False)
    maps = {"binance_trades": {"price_x2": "float(price) * 2"}}
    config = {**base_config(sim), "batch_config": batch_config(tmp_path, "parquet")}
    tap = TapBinance(config={**config, "stream_maps": maps}, setup_mapper=False)
    assert "binance_trades" in tap.catalog_dict["streams"][1]["tap_stream_id"]
