"""The BATCH lane: REST pages in batch files, each BATCH followed by its STATE."""

from __future__ import annotations

import pytest
from schemahub_core.batch_files import BatchConfigError
from schemahub_core.testing import batch_rows
from tap_coinbase.tap import TapCoinbase
from tap_coinbase_testkit import bookmark, run_tap, state_at, tap_config


def test_trades_arrive_in_batch_files_with_state_after_each(sim_factory, tmp_path):
    sim = sim_factory("coinbase", seed=65, rate_limit=False)
    state = state_at({"BTC-USD": sim.oracle.newest_id("BTC-USD") - 2_500})
    config = tap_config(sim)
    records = run_tap(config, state=state)
    batch_config = {
        "encoding": {"format": "parquet"},
        "storage": {"root": tmp_path.as_uri()},
        "batch_size": 1_000,
    }
    batched = run_tap({**config, "batch_config": batch_config}, state=state)

    batches = batch_rows(batched.messages, "coinbase_trades")
    assert [len(rows) for rows in batches] == [1_000, 1_000, 500]
    assert [row for rows in batches for row in rows] == records.trades("BTC-USD")
    batch_at = [i for i, m in enumerate(batched.messages) if m["type"] == "BATCH"]
    for index, rows in zip(batch_at[-3:], batches, strict=True):
        following = batched.messages[index + 1]
        assert following["type"] == "STATE"
        assert bookmark(following["value"], "BTC-USD") == rows[-1]["trade_id"]


def test_batch_config_with_a_deselected_field_is_refused(sim_factory, tmp_path):
    sim = sim_factory("coinbase", seed=66, rate_limit=False)
    config = tap_config(
        sim, batch_config={"encoding": {"format": "jsonl"}, "storage": {"root": tmp_path.as_uri()}}
    )
    catalog = TapCoinbase(config=tap_config(sim), parse_env_config=False).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == ["properties", "side"]:
                entry["metadata"]["selected"] = False
    with pytest.raises(BatchConfigError, match="coinbase_trades: deselected fields"):
        TapCoinbase(config=config, catalog=catalog, parse_env_config=False)
