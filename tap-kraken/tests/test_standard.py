"""singer-sdk's standard tap tests against a simulator, plus the final-bookmark assertions
that the SDK's own final-state test does not make."""

from __future__ import annotations

from schemahub_core.testing import standard_tap_tests
from tap_kraken.tap import TapKraken
from tap_kraken_testkit import bookmark, partition, run_tap

# singer-sdk reads CONFIG while this module loads; `simulator` sets its api_url.
CONFIG = {
    "api_url": "http://127.0.0.1:9",
    "pairs": ["XBTUSD", "ETHUSD"],
    "lookback_minutes": 3,
    "max_requests_per_second": 1000,
}

TestTapKraken, simulator = standard_tap_tests(TapKraken, "kraken", seed=52, config=CONFIG)


def test_final_state_bookmarks_each_pair_at_its_newest_trade_with_its_cursor(simulator):
    out = run_tap(CONFIG)
    for pair in CONFIG["pairs"]:
        newest = simulator.oracle.newest_id(pair)
        emitted = out.as_served(pair)
        assert emitted, f"no {pair} trades in the last 3 minutes of the simulator"
        assert emitted == simulator.oracle.trades(pair, emitted[0][6])
        assert emitted[-1][6] == newest == bookmark(out.final_state, pair)
        assert partition(out.final_state, pair)["last"].isdigit()
