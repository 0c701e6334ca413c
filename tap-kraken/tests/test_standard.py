"""singer-sdk's standard tap tests against a simulator, plus the final-bookmark assertions
that the SDK's own final-state test does not make."""

from __future__ import annotations

import pytest
from schemahub_core.testing import running_simulator
from singer_sdk.testing import get_tap_test_class
from tap_kraken.tap import TapKraken
from tap_kraken_testkit import bookmark, partition, run_tap

# get_tap_test_class takes the config while this module loads; the `simulator` fixture sets
# its api_url (same dict) before the first test runs, so no server starts at import time.
CONFIG = {
    "api_url": "http://127.0.0.1:9",
    "pairs": ["XBTUSD", "ETHUSD"],
    "lookback_minutes": 3,
    "max_requests_per_second": 1000,
}

TestTapKraken = get_tap_test_class(TapKraken, config=CONFIG)


@pytest.fixture(scope="module", autouse=True)
def simulator():
    """A Kraken simulator (seed 52, no rate limit) that CONFIG points at, for this module."""
    with running_simulator("kraken", seed=52, config=CONFIG) as sim:
        yield sim


def test_final_state_bookmarks_each_pair_at_its_newest_trade_with_its_cursor(simulator):
    out = run_tap(CONFIG)
    for pair in CONFIG["pairs"]:
        newest = simulator.oracle.newest_id(pair)
        emitted = out.as_served(pair)
        assert emitted, f"no {pair} trades in the last 3 minutes of the simulator"
        assert emitted == simulator.oracle.trades(pair, emitted[0][6])
        assert emitted[-1][6] == newest == bookmark(out.final_state, pair)
        assert partition(out.final_state, pair)["last"].isdigit()
