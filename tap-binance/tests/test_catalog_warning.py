"""A run's log carries no warning about fields the streams' schemas do not declare."""

from __future__ import annotations

import logging

import pytest
from tap_binance_testkit import base_config, run_tap


@pytest.mark.slow
def test_a_run_warns_of_no_properties_missing_from_the_catalog(sim, caplog):
    with caplog.at_level(logging.WARNING):
        run = run_tap(base_config(sim, lookback_minutes=1))
    assert "not found in catalog schema" not in caplog.text
    assert run.records("binance_symbols")[0]["permissionSets"]  # kept, not dropped
