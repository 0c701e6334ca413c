"""`pip install ./schemahub-core ./tap-binance` works in a new virtualenv."""

from __future__ import annotations

import pytest
from schemahub_core.testing import installed_tap


@pytest.mark.slow
def test_tap_installs_with_schemahub_core_alone_in_a_fresh_virtualenv(tmp_path):
    installed_tap(__file__, tmp_path / "venv", ("weight_budget_fraction", "backfill_source"))
