"""The `pairs` setting: altnames, canonical names and patterns; asset names without prefixes."""

from __future__ import annotations

from tap_kraken.pairs import resolve_pairs
from tap_kraken_testkit import run_tap, tap_config


def test_patterns_match_online_pairs_and_names_reach_any_listed_pair(sim_factory):
    sim = sim_factory("kraken", seed=31, rate_limit=False)
    listed = {entry["pair"]: entry for entry in sim.oracle.metadata}
    by_pattern = resolve_pairs(["*USD"], listed)
    assert [p.altname for p in by_pattern] == ["ETHUSD", "SOLUSD", "XBTUSD", "XDGUSD"]
    named = resolve_pairs(["XXBTZUSD", "xbtusd", "LUNAUSD"], listed)
    assert [p.altname for p in named] == ["XBTUSD", "LUNAUSD"], "delisted history stays reachable"


def test_records_carry_common_asset_names_and_the_exchange(sim_factory):
    sim = sim_factory("kraken", seed=32, rate_limit=False)
    out = run_tap(tap_config(sim, pairs=["XBTUSD", "XDGUSD", "SOLUSD"], lookback_minutes=5))
    assets = {
        r["pair"]: (r["base_asset"], r["quote_asset"], r["exchange"])
        for r in out.records["kraken_trades"]
    }
    assert assets == {
        "XBTUSD": ("BTC", "USD", "KRAKEN"),
        "XDGUSD": ("DOGE", "USD", "KRAKEN"),
        "SOLUSD": ("SOL", "USD", "KRAKEN"),
    }
    pairs = {r["pair"]: r for r in out.records["kraken_pairs"]}
    assert pairs["XBTUSD"]["pair_name"] == "XXBTZUSD"
    assert pairs["XBTUSD"]["base"] == "XXBT"
    assert pairs["XBTUSD"]["base_asset"] == "BTC"
