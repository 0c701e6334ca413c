"""The taps and the target run Arrow on the system allocator (schemahub_core.arrow_memory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = """
import pyarrow as pa
from {module} import {cls}
before = pa.default_memory_pool().backend_name
{cls}(config={config}, parse_env_config=False)
print(before, pa.default_memory_pool().backend_name)
"""

PLUGINS = [
    ("tap_binance.tap", "TapBinance", {"start_date": "2025-01-01T00:00:00Z"}),
    ("tap_coinbase.tap", "TapCoinbase", {"start_date": "2025-01-01T00:00:00Z"}),
    ("tap_kraken.tap", "TapKraken", {"start_date": "2025-01-01T00:00:00Z"}),
    ("target_s3_parquet.target", "TargetS3Parquet", {"table_format": "hive"}),
]


def pools(module: str, cls: str, config: dict[str, str], env_pool: str | None, tmp: str) -> str:
    """'<pool before> <pool after>' of constructing the plugin in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_pool:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_pool
    code = PROGRAM.format(module=module, cls=cls, config=config)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp, capture_output=True, text=True, check=True
    )
    return done.stdout.split("\n")[-2]


@pytest.mark.parametrize(("module", "cls", "config"), PLUGINS, ids=[p[1] for p in PLUGINS])
def test_plugins_switch_arrow_to_the_system_allocator(
    module: str, cls: str, config: dict[str, str], tmp_path: Path
) -> None:
    """Default pool mimalloc before the plugin starts, system after."""
    assert pools(module, cls, config, None, str(tmp_path)) == "mimalloc system"


def test_an_explicit_arrow_pool_setting_wins(tmp_path: Path) -> None:
    """ARROW_DEFAULT_MEMORY_POOL set by the user is left alone."""
    module, cls, config = PLUGINS[0]
    assert pools(module, cls, config, "jemalloc", str(tmp_path)) == "jemalloc jemalloc"
