"""The schemahub-core wheel carries the root mappings; installs alone (no pyarrow) or [mapping]."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hatchling.builders.wheel import WheelBuilder
from schemahub_core.testing import install_in_fresh_virtualenv

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent
ROOT_MAPPINGS = sorted(p.name for p in (REPO_ROOT / "mappings").glob("*.yaml"))
PROBE = (
    "import schemahub_core.mapping as m; print(m.__file__); "
    "print(m.packaged_mappings_dir()); print(sorted(m.load_mappings()))"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = list(WheelBuilder(str(PACKAGE_DIR)).build(directory=str(out), versions=["standard"]))
    assert len(built) == 1
    return Path(built[0])


def test_the_root_mappings_are_the_ones_the_issue_asks_for():
    assert ROOT_MAPPINGS == ["binance_trades.yaml", "coinbase_trades.yaml", "kraken_trades.yaml"]


def test_wheel_carries_byte_identical_copies_of_the_root_mappings(wheel):
    with zipfile.ZipFile(wheel) as archive:
        packaged = {
            Path(name).name: archive.read(name)
            for name in archive.namelist()
            if name.startswith("schemahub_core/mappings/") and name.endswith(".yaml")
        }
    assert sorted(packaged) == ROOT_MAPPINGS
    for name in ROOT_MAPPINGS:
        assert packaged[name] == (REPO_ROOT / "mappings" / name).read_bytes(), name


def test_load_mappings_reads_the_packaged_copies_of_an_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:  # a pure wheel installs by unpacking
        archive.extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}  # ahead of the editable checkout
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr
    module_file, mappings_dir, streams = probe.stdout.splitlines()
    assert Path(module_file).is_relative_to(site)
    assert Path(mappings_dir) == site / "schemahub_core" / "mappings"
    assert streams == "['binance_trades', 'coinbase_trades', 'kraken_trades']"


ENGINE_PROBE = (
    "import importlib.util, schemahub_core.http, schemahub_core.ratelimit, schemahub_core.breaker,"
    " schemahub_core.progress, schemahub_core.errors, schemahub_core.metrics;"
    " print(importlib.util.find_spec('pyarrow'))"
)


@pytest.mark.slow
def test_pip_install_schemahub_core_alone_works_in_a_fresh_virtualenv(tmp_path):
    venv = tmp_path / "venv"
    bin_dir, env = install_in_fresh_virtualenv(venv, PACKAGE_DIR)
    python = bin_dir / "python"
    # What a tap needs works without pyarrow: plugins that map nothing stay light.
    engine = subprocess.run(
        [str(python), "-c", ENGINE_PROBE], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert (engine.returncode, engine.stdout) == (0, "None\n"), engine.stderr
    extra = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"{PACKAGE_DIR}[mapping]"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert extra.returncode == 0, extra.stderr[-3000:]
    probe = subprocess.run(
        [str(python), "-c", PROBE], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines()[2] == "['binance_trades', 'coinbase_trades', 'kraken_trades']"
    assert Path(probe.stdout.splitlines()[1]).is_relative_to(venv)
    cli = subprocess.run(
        [str(bin_dir / "schemahub"), "--help"], env=env, capture_output=True, text=True
    )
    assert cli.returncode == 0, cli.stderr
    assert "usage: schemahub" in cli.stdout
