"""singer-sdk's standard tap tests against a simulator, plus the final-bookmark assertions
that the SDK's own final-state test does not make."""

from __future__ import annotations

from schemahub_core.testing import standard_tap_tests
from tap_coinbase.tap import TapCoinbase
from tap_coinbase_testkit import bookmark, run_tap

# singer-sdk reads CONFIG while this module loads; `simulator` sets its api_url.
CONFIG = {
    "api_url": "http://127.0.0.1:9",
    "product_ids": ["BTC-USD", "ETH-USD"],
    "lookback_minutes": 3,
    "max_requests_per_second": 1000,
    "concurrency": 4,
}

TestTapCoinbase, simulator = standard_tap_tests(TapCoinbase, "coinbase", seed=51, config=CONFIG)


def test_final_state_bookmarks_each_product_at_its_newest_trade(simulator):
    out = run_tap(CONFIG)
    for product_id in CONFIG["product_ids"]:
        newest = simulator.oracle.newest_id(product_id)
        emitted = out.trades(product_id)
        assert emitted, f"no {product_id} trades in the last 3 minutes of the simulator"
        assert emitted[-1]["trade_id"] == newest
        assert bookmark(out.final_state, product_id) == newest
        assert out.as_served(product_id) == simulator.oracle.trades(
            product_id, emitted[0]["trade_id"]
        )
    partitions = out.final_state["bookmarks"]["coinbase_trades"]["partitions"]
    assert all(
        set(p) == {"context", "replication_key", "replication_key_value"} for p in partitions
    )
