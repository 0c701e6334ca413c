"""Bulk backfill from the dumps: ms/us files, monthly files, 404 days, checksums, hand-over."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from schemahub_core.fastpath import fast_path_allowed
from tap_binance.bulk import DumpError
from tap_binance.tap import TapBinance
from tap_binance_testkit import base_config, bookmark, run_tap

SYMBOL = "LTCBTC"  # a few hundred trades a day, history from 2024-12-01
MICROSECOND_DUMPS_FROM_US = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1e6)


def utc_date(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1e6, UTC).date().isoformat()


def expected_trades(sim, start: str, dumped_days: set[str]) -> list[dict]:
    """The oracle's trades, with the precision each source has: trades of days served from a
    millisecond dump (before 2025) lose their sub-millisecond digits."""
    trades = sim.oracle.trades(SYMBOL, sim.oracle.id_at_or_after(SYMBOL, start))
    for trade in trades:
        if utc_date(trade["time"]) in dumped_days and trade["time"] < MICROSECOND_DUMPS_FROM_US:
            trade["time"] = trade["time"] // 1000 * 1000
    return trades


def zip_requests(sim) -> dict[str, int]:
    return {p: n for p, n in sim.stats.paths.items() if p.endswith(".zip")}


@pytest.fixture
def dump_sim(sim_factory):
    """Market time 2025-01-03 12:00 UTC: dumps exist for every day up to 2025-01-02."""
    return sim_factory("binance", seed=9, clock="frozen", start_time="2025-01-03T12:00:00Z")


def test_dumps_either_side_of_2025_hand_over_to_rest_without_gap_or_overlap(dump_sim):
    start = "2024-12-30T00:00:00Z"
    config = base_config(dump_sim, symbols=[SYMBOL], start_date=start, backfill_source="bulk")
    run = run_tap(config)
    days = {"2024-12-30", "2024-12-31", "2025-01-01", "2025-01-02"}
    assert run.trades(SYMBOL) == expected_trades(dump_sim, start, days)
    assert bookmark(run.final_state, SYMBOL) == dump_sim.oracle.newest_id(SYMBOL)
    assert sorted(p.rsplit("-trades-", 1)[1] for p in zip_requests(dump_sim)) == [
        f"{day}.zip" for day in sorted(days)
    ]
    # Only the last half day (about 430 trades) came over REST: one page plus the lookup.
    assert dump_sim.stats.paths["/api/v3/historicalTrades"] <= 3
    # Times are microseconds on both sides of 2025-01-01.
    times = [t["time"] for t in run.trades(SYMBOL)]
    assert min(times) > 10**15
    assert times == sorted(times)


def test_dump_records_equal_rest_records_on_microsecond_days(dump_sim):
    start = "2025-01-01T00:00:00Z"
    bulk = run_tap(
        base_config(dump_sim, symbols=[SYMBOL], start_date=start, backfill_source="bulk")
    )
    rest = run_tap(
        base_config(dump_sim, symbols=[SYMBOL], start_date=start, backfill_source="rest")
    )
    assert len(zip_requests(dump_sim)) == 2
    assert bulk.records() == rest.records()
    assert bulk.final_state == rest.final_state


def test_whole_past_months_come_from_the_monthly_file(sim_factory):
    sim = sim_factory("binance", seed=9, clock="frozen", start_time="2025-03-02T06:00:00Z")
    start = "2025-01-31T00:00:00Z"
    run = run_tap(base_config(sim, symbols=[SYMBOL], start_date=start, backfill_source="auto"))
    assert run.trades(SYMBOL) == expected_trades(sim, start, set())
    assert sorted(
        p.rsplit("/", 2)[0].split("/")[3] + p.rsplit("-trades-", 1)[1] for p in zip_requests(sim)
    ) == [
        "daily2025-01-31.zip",
        "daily2025-03-01.zip",
        "monthly2025-02.zip",
    ]


def test_a_day_without_dump_is_fetched_over_rest(dump_sim):
    dump_sim.configure(missing_dumps="2024-12-31")  # the simulator answers 404 for it
    start = "2024-12-30T00:00:00Z"
    run = run_tap(base_config(dump_sim, symbols=[SYMBOL], start_date=start, backfill_source="auto"))
    dumped = {"2024-12-30", "2025-01-01", "2025-01-02"}
    assert run.trades(SYMBOL) == expected_trades(dump_sim, start, dumped)
    assert dump_sim.stats.status[404] >= 1
    assert dump_sim.stats.paths["/api/v3/historicalTrades"] >= 3


def test_a_missing_monthly_file_falls_back_to_its_daily_files(sim_factory):
    sim = sim_factory(
        "binance", seed=9, clock="frozen", start_time="2025-03-01T06:00:00Z",
        missing_dumps="2025-02",
    )  # fmt: skip
    start = "2025-02-01T00:00:00Z"
    run = run_tap(base_config(sim, symbols=[SYMBOL], start_date=start, backfill_source="bulk"))
    assert run.trades(SYMBOL) == expected_trades(sim, start, set())
    monthly = "/data/spot/monthly/trades/LTCBTC/LTCBTC-trades-2025-02.zip.CHECKSUM"
    assert sim.stats.paths[monthly] == 1  # tried first: 404
    files = sorted(p.rsplit("-trades-", 1)[1] for p in zip_requests(sim))
    assert files == [f"2025-02-{day:02d}.zip" for day in range(1, 29)]


def test_checksum_mismatch_is_retried_once_then_fatal_naming_the_file(dump_sim):
    dump_sim.configure(corrupt_checksum=True)
    config = base_config(
        dump_sim, symbols=[SYMBOL], start_date="2025-01-02T00:00:00Z", backfill_source="bulk"
    )
    with pytest.raises(DumpError, match=r"LTCBTC-trades-2025-01-02\.zip") as caught:
        run_tap(config)
    assert "SHA-256" in str(caught.value)
    assert list(zip_requests(dump_sim).values()) == [2]


def test_fast_path_output_equals_the_sdk_record_path(dump_sim):
    start = "2024-12-31T00:00:00Z"
    config = base_config(dump_sim, symbols=[SYMBOL], start_date=start, backfill_source="bulk")
    # Flattening a flat record changes nothing, but routes records through the SDK's path.
    sdk_config = {**config, "flattening_enabled": True, "flattening_max_depth": 1}
    trades = TapBinance(config=config, parse_env_config=False).streams["binance_trades"]
    sdk_trades = TapBinance(config=sdk_config, parse_env_config=False).streams["binance_trades"]
    assert fast_path_allowed(trades)
    assert not fast_path_allowed(sdk_trades)
    for other in (
        {"stream_maps": {"binance_trades": {"price_num": "float(price)"}}},
        {"stream_maps": {"binance_trades": {"isBestMatch": None}}},
        {"batch_config": {"encoding": {"format": "jsonl"}, "storage": {"root": "file:///tmp"}}},
    ):
        tap = TapBinance(config={**config, **other}, parse_env_config=False)
        assert not fast_path_allowed(tap.streams["binance_trades"]), other

    fast, sdk = run_tap(config), run_tap(sdk_config)
    strip = lambda run: [  # noqa: E731
        {k: v for k, v in m.items() if k != "time_extracted"}
        for m in run.messages
        if m["type"] == "RECORD" and m["stream"] == "binance_trades"
    ]
    assert strip(fast) == strip(sdk)
    assert len(fast.records()) > 1000
    assert fast.final_state == sdk.final_state
