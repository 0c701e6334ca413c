"""Long backfills log one progress line per product at a steady cadence."""

from __future__ import annotations

import logging

from tap_coinbase.progress import ProgressReporter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_lines_come_every_interval_with_done_total_percent_rate_and_eta(caplog):
    clock = FakeClock()
    reporter = ProgressReporter(
        "BTC-USD", 100_000, logging.getLogger("progress-test"), interval=10, clock=clock
    )
    with caplog.at_level(logging.INFO, logger="progress-test"):
        for _ in range(40):  # 40 pages of 999 ids, one every 0.5 s: 20 s in all
            clock.now += 0.5
            reporter.advance(999)
        reporter.finish()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3  # at 10 s, at 20 s, and the final line
    assert lines[0] == (
        "coinbase_trades BTC-USD: 19980/100000 trade ids (20.0%), 1998 ids/s, ETA 40 s"
    )
    assert lines[2].endswith("(done)") and "39960/100000" in lines[2]
