"""Kraken's HTTP-200 errors, CDN pages and connection faults: retried, classified, explained."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from schemahub_core.errors import FatalAPIError
from tap_kraken.pairs import UnknownPairError
from tap_kraken.streams import MissingCursorError
from tap_kraken_testkit import bookmark, run_tap, tap_config


@pytest.mark.slow
def test_fault_storm_loses_and_repeats_nothing(sim_factory):
    sim = sim_factory("kraken", seed=21, rate_limit=False)
    sim.configure(
        fault_unavailable=0.08,
        fault_busy=0.08,
        fault_5xx=0.06,
        fault_html=0.04,
        fault_429=0.08,
        fault_reset=0.03,
        fault_truncate=0.03,
        fault_5xx_status=520,
        fault_path="/0/public/Trades",
    )
    start = sim.clock.now() - timedelta(minutes=100)  # about 50 pages
    config = tap_config(sim, start_date=start.isoformat())
    out = run_tap(config)
    for pair in ("XBTUSD", "SOLUSD"):
        first = sim.oracle.id_at_or_after(pair, start)
        assert out.as_served(pair) == sim.oracle.trades(pair, first), pair
        assert bookmark(out.final_state, pair) == sim.oracle.newest_id(pair)
    faults = sim.stats.snapshot()["faults"]
    assert {"unavailable", "busy", "5xx", "429"} <= set(faults), faults


def test_unknown_pair_fails_at_start_naming_close_matches(sim_factory):
    sim = sim_factory("kraken", seed=22, rate_limit=False)
    with pytest.raises(UnknownPairError, match=r"'XBTUSDT'.*Did you mean: XBTUSD"):
        run_tap(tap_config(sim, pairs=["XBTUSDT"]))
    with pytest.raises(UnknownPairError, match="pattern 'BTC\\*' matches none"):
        run_tap(tap_config(sim, pairs=["BTC*"]))


def test_kraken_error_in_a_200_body_fails_with_its_words_and_the_pair(sim_factory):
    sim = sim_factory("kraken", seed=23, rate_limit=False)
    sim.app.markets.pop("SOLUSD")  # listed by AssetPairs, unknown to Trades
    sim.app._altname.pop("SOLUSD")  # noqa: SLF001 (a simulator inconsistent on purpose)
    with pytest.raises(FatalAPIError, match=r"EQuery:Unknown asset pair \(pair SOLUSD"):
        run_tap(tap_config(sim, pairs=["SOLUSD"]))


def test_bookmark_without_cursor_is_refused_with_what_to_do(sim_factory):
    sim = sim_factory("kraken", seed=24, rate_limit=False)
    state = {
        "bookmarks": {
            "kraken_trades": {
                "partitions": [
                    {
                        "context": {"pair": "XBTUSD"},
                        "replication_key": "trade_id",
                        "replication_key_value": 81_000_000,
                    }
                ]
            }
        }
    }
    with pytest.raises(MissingCursorError, match=r"no 'last' cursor.*start_date"):
        run_tap(tap_config(sim, pairs=["XBTUSD"]), state=state)


@pytest.mark.slow
def test_pairs_read_in_parallel_at_the_per_pair_rate_never_hit_too_many_requests(sim_factory):
    # Kraken's real counter: about 1 call/s per pair. Three pairs of 6 pages each would take
    # 18 s one after another; in parallel about 6 s.
    sim = sim_factory("kraken", seed=25, pair_rate_per_second=1.0, pair_burst=3)
    pairs = ["XBTUSD", "ETHUSD", "SOLUSD"]
    started = time.monotonic()
    out = run_tap(tap_config(sim, pairs=pairs, lookback_minutes=12, max_requests_per_second=1))
    elapsed = time.monotonic() - started
    calls = sum(1 for _ in pairs) + sim.stats.paths["/0/public/Trades"]
    assert sim.app.throttled == 0
    assert elapsed < 0.6 * calls, (elapsed, calls)
    for pair in pairs:
        emitted = out.as_served(pair)
        assert emitted == sim.oracle.trades(pair, emitted[0][6])
