"""Plugin definitions in Meltano Hub format: generated from meltano.yml, installable elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import MELTANO, ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import plugin_definitions


def test_plugin_definitions_are_up_to_date_with_meltano_yml() -> None:
    assert plugin_definitions.main(["--check"]) == 0


def test_every_definition_has_an_unmistakable_variant_and_installs_core_beside_it() -> None:
    for path in (ROOT / "plugins").glob("*/*.yml"):
        definition = yaml.safe_load(path.read_text())
        assert definition["variant"] == "schemahub"
        assert path.name == f"{definition['name']}--schemahub.yml"
        assert "subdirectory=schemahub-core" in definition["pip_url"]


@pytest.mark.slow
def test_meltano_add_from_ref_installs_the_tap_into_another_project(tmp_path: Path) -> None:
    """A fresh project adds tap-coinbase from its definition (local pip_url) and runs it."""
    definition = yaml.safe_load(
        (ROOT / "plugins/extractors/tap-coinbase--schemahub.yml").read_text()
    )
    definition["pip_url"] = f"-e {ROOT / 'schemahub-core'} -e {ROOT / 'tap-coinbase'}"
    ref = tmp_path / "tap-coinbase.yml"
    ref.write_text(yaml.safe_dump(definition))
    project = tmp_path / "project"
    project.mkdir()
    (project / "meltano.yml").write_text(
        "version: 1\nproject_id: plugin-definition-test\ndefault_environment: dev\n"
        "environments:\n- name: dev\nvenv:\n  backend: uv\n"
    )
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}

    def meltano(*args: str) -> str:
        result = subprocess.run(
            [MELTANO, *args], cwd=project, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"meltano {' '.join(args)}:\n{result.stderr[-4000:]}"
        return result.stdout

    meltano("add", "extractor", "tap-coinbase", "--from-ref", str(ref))
    added = yaml.safe_load((project / "meltano.yml").read_text())["plugins"]["extractors"][0]
    assert (added["name"], added["variant"]) == ("tap-coinbase", "schemahub")
    about = json.loads(meltano("invoke", "tap-coinbase", "--about", "--format=json"))
    assert {s["name"] for s in definition["settings"]} <= set(about["settings"]["properties"])
