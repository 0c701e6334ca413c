"""Exactly the served trades, once each, under both readings of `since`, and across restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tap_kraken.streams import TradesStream
from tap_kraken_testkit import bookmark, partition, run_tap, tap_config

PAIRS = ("XBTUSD", "SOLUSD")


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("since_exclusive", [False, True], ids=["inclusive", "exclusive"])
def test_trades_equal_the_oracle_from_start_date_under_either_reading_of_since(
    sim_factory, since_exclusive
):
    sim = sim_factory("kraken", seed=11, rate_limit=False, since_exclusive=since_exclusive)
    start = sim.clock.now() - timedelta(minutes=25)
    out = run_tap(tap_config(sim, start_date=iso(start)))
    for pair in PAIRS:
        first = sim.oracle.id_at_or_after(pair, start)
        expected = sim.oracle.trades(pair, first)
        assert len(expected) > 2000, "several pages, so page boundaries are crossed"
        assert out.as_served(pair) == expected, pair
        assert bookmark(out.final_state, pair) == sim.oracle.newest_id(pair)


def test_rerun_from_final_state_reads_only_the_new_trades(sim_factory):
    sim = sim_factory("kraken", seed=12, rate_limit=False)
    first = run_tap(tap_config(sim, lookback_minutes=10))
    sim.advance(600)
    second = run_tap(tap_config(sim, lookback_minutes=10), state=first.final_state)
    for pair in PAIRS:
        ids = [row[6] for row in first.as_served(pair) + second.as_served(pair)]
        assert ids == sorted(set(ids)), "no trade twice, ascending"
        assert first.as_served(pair) + second.as_served(pair) == sim.oracle.trades(pair, ids[0])
        assert bookmark(second.final_state, pair) == sim.oracle.newest_id(pair)


@pytest.mark.parametrize("since_exclusive", [False, True], ids=["inclusive", "exclusive"])
def test_restart_from_any_mid_run_state_loses_and_repeats_nothing(
    sim_factory, monkeypatch, since_exclusive
):
    monkeypatch.setattr(TradesStream, "STATE_MSG_FREQUENCY", 300)  # states inside pages
    sim = sim_factory("kraken", seed=13, rate_limit=False, since_exclusive=since_exclusive)
    config = tap_config(sim, pairs=["XBTUSD"], lookback_minutes=15)
    full = run_tap(config)
    served = full.as_served("XBTUSD")
    mid_run = [s for s in full.states if bookmark(s, "XBTUSD") not in (None, served[-1][6])]
    assert len(mid_run) >= 5
    for state in mid_run[:: max(1, len(mid_run) // 5)]:
        mark = bookmark(state, "XBTUSD")
        assert int(partition(state, "XBTUSD")["last"]) > 0
        rerun = run_tap(config, state=state).as_served("XBTUSD")
        assert rerun == [row for row in served if row[6] > mark], mark


def test_a_spool_hands_back_pages_in_order_from_memory_and_from_its_file():
    from tap_kraken.feed import FreshPage, PageSpool

    spool = PageSpool(memory_pages=2)
    pages = [FreshPage(i, [["1.0", "2.0", f"{i}.5", "b", "l", "", i]]) for i in range(7)]
    for page in pages[:5]:
        spool.put(page)
    reader = iter(spool)
    assert [next(reader) for _ in range(3)] == pages[:3]
    for page in pages[5:]:
        spool.put(page)
    spool.finish()
    assert list(reader) == pages[3:]
    spool.close()
