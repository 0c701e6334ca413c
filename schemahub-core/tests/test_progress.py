"""Long backfills log one progress line per partition at a steady cadence."""

from __future__ import annotations

import logging

from schemahub_core.progress import (
    CountProgress,
    ProgressReporter,
    StreamProgress,
    format_duration,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_lines_come_every_interval_with_done_total_percent_rate_and_eta(caplog):
    clock = FakeClock()
    logger = logging.getLogger("progress-test")
    reporter = ProgressReporter(
        "coinbase_trades", "BTC-USD", 1, 100_000, logger, interval=10, clock=clock
    )
    with caplog.at_level(logging.INFO, logger="progress-test"):
        for page in range(1, 41):  # 40 pages of 999 ids, one every 0.5 s: 20 s in all
            clock.now += 0.5
            reporter.advance_to(page * 999, source="rest")
        reporter.finish()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3  # at 10 s, at 20 s, and the final line
    assert lines[0] == (
        "coinbase_trades BTC-USD: 19980/100000 trade ids (20.0%) via rest, 1998 ids/s, ETA 40 s"
    )
    assert lines[2].endswith("(done)") and "39960/100000" in lines[2]


def test_done_never_exceeds_the_range_nor_goes_backwards():
    reporter = ProgressReporter("binance_trades", "BTCUSDT", 501, 600, logging.getLogger("p"))
    reporter.advance_to(550)
    reporter.advance_to(540)
    assert reporter.done == 50
    reporter.advance_to(10_000)
    assert reporter.done == reporter.total == 100


def test_eta_reads_in_hours_minutes_and_seconds():
    assert format_duration(40) == "40 s"
    assert format_duration(245) == "4 min 05 s"
    assert format_duration(3725) == "1 h 02 min"
    clock = FakeClock()
    reporter = ProgressReporter(
        "binance_trades", "BTCUSDT", 1, 3_601_000, logging.getLogger("p"), clock=clock
    )
    clock.now += 1
    reporter.advance_to(1000)  # 1000 ids/s, 3.6M to go
    assert reporter.line(clock.now).endswith("1000 ids/s, ETA 1 h 00 min")


def test_lines_carry_the_total_across_the_streams_products():
    clock = FakeClock()
    overall = StreamProgress(clock=clock)
    logger = logging.getLogger("p")
    btc = ProgressReporter(
        "coinbase_trades", "BTC-USD", 1, 1000, logger, clock=clock, stream_progress=overall
    )
    btc.advance_to(1000)
    eth = ProgressReporter(
        "coinbase_trades", "ETH-USD", 1, 3000, logger, clock=clock, stream_progress=overall
    )
    clock.now += 10
    eth.advance_to(1000)
    # 2000 of 4000 ids in 10 s: 200 ids/s overall, 2000 to go.
    assert eth.line(clock.now).endswith("; all 2 partitions so far: 2000/4000 (50.0%), ETA 10 s")


def test_count_progress_logs_every_interval_and_the_last_item_with_eta(caplog):
    clock = FakeClock()
    logger = logging.getLogger("count-progress-test")
    progress = CountProgress("compact: partitions", 40, logger, interval=10, clock=clock)
    with caplog.at_level(logging.INFO, logger="count-progress-test"):
        for number in range(1, 41):  # one partition every 0.5 s: 20 s in all
            clock.now += 0.5
            progress.advance(f"partition {number}")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "compact: 20/40 partitions (50.0%), ETA 10 s; last: partition 20",
        "compact: 40/40 partitions (100.0%), ETA 0 s; last: partition 40",
    ]
