"""meltano.yml declares exactly the settings the plugins define, with matching kinds.

A setting missing from meltano.yml cannot be set through Meltano's variables; a sensitive one
not marked `sensitive` would be printed by `meltano config`. The plugins' own settings (without
singer-sdk's built-ins) are the source of truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tap_binance.tap import TapBinance
from tap_coinbase.tap import TapCoinbase
from tap_kraken.tap import TapKraken
from target_s3_parquet.target import TargetS3Parquet

ROOT = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text())
PLUGINS = {
    "tap-coinbase": ("extractors", TapCoinbase),
    "tap-binance": ("extractors", TapBinance),
    "tap-kraken": ("extractors", TapKraken),
    "target-s3-parquet": ("loaders", TargetS3Parquet),
}


def declared(plugin: str) -> dict[str, Any]:
    """The plugin's entry in meltano.yml."""
    kind, _ = PLUGINS[plugin]
    return next(p for p in PROJECT["plugins"][kind] if p["name"] == plugin)


def builtin_settings(plugin_class: Any) -> dict[str, Any]:
    """singer-sdk's built-in settings for this plugin class (stream_maps, batch_size_rows...)."""
    builtins: dict[str, Any] = {"type": "object", "properties": {}}
    plugin_class.append_builtin_config(builtins)
    return dict(builtins["properties"])


def own_settings(plugin_class: Any) -> dict[str, Any]:
    """The plugin's own settings: its config schema minus singer-sdk's built-in ones.

    singer-sdk appends its built-ins (stream_maps, batch_size_rows, ...) to the class-level
    schema the first time a plugin is instantiated, so which ones are present depends on what
    ran before; subtract them explicitly instead.
    """
    builtins = builtin_settings(plugin_class)
    return {
        name: schema
        for name, schema in plugin_class.config_jsonschema["properties"].items()
        if name not in builtins
    }


def allowed_kinds(schema: dict[str, Any]) -> set[str]:
    """Meltano kinds that can carry a value of this JSON schema."""
    types = set(schema["type"] if isinstance(schema["type"], list) else [schema["type"]])
    types.discard("null")
    if "enum" in schema:
        return {"options"}
    if types == {"integer"}:
        return {"integer"}
    if types == {"number"}:
        return {"integer", "decimal"}
    if types == {"boolean"}:
        return {"boolean"}
    if types == {"array"}:
        return {"array"}
    if types == {"object"}:
        return {"object"}
    if schema.get("format") == "date-time":
        return {"date_iso8601", "string"}
    return {"string"}


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_every_plugin_setting_is_declared_with_a_fitting_kind(plugin: str) -> None:
    _, plugin_class = PLUGINS[plugin]
    own = own_settings(plugin_class)
    builtins = builtin_settings(plugin_class)
    settings = {s["name"]: s for s in declared(plugin)["settings"]}
    assert set(settings) - set(builtins) == set(own), "meltano.yml and the plugin's settings differ"
    for name, schema in {**own, **{n: builtins[n] for n in set(settings) & set(builtins)}}.items():
        setting = settings[name]
        assert setting.get("kind", "string") in allowed_kinds(schema), name
        assert bool(setting.get("sensitive")) == bool(schema.get("secret")), name
        if "enum" in schema:
            assert {o["value"] for o in setting["options"]} == set(schema["enum"]), name
        if "default" in schema and "value" in setting:
            assert setting["value"] == schema["default"], name


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_declared_capabilities_are_ones_the_plugins_have(plugin: str) -> None:
    _, plugin_class = PLUGINS[plugin]
    actual = {str(c) for c in plugin_class.capabilities}
    assert set(declared(plugin)["capabilities"]) <= actual


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_plugins_install_from_their_folders_with_core(plugin: str) -> None:
    entry = declared(plugin)
    assert entry["pip_url"] == f"-e ./schemahub-core -e ./{plugin}"
    assert entry["executable"] == plugin
    assert entry["namespace"] == plugin.replace("-", "_")
    if plugin.startswith("tap-"):
        assert {"catalog", "discover", "state", "about"} <= set(entry["capabilities"])


def test_jobs_and_schedule() -> None:
    jobs = {j["name"]: j["tasks"] for j in PROJECT["jobs"]}
    assert jobs == {
        "ingest-coinbase": ["tap-coinbase target-s3-parquet"],
        "ingest-binance": ["tap-binance target-s3-parquet"],
        "ingest-kraken": ["tap-kraken target-s3-parquet"],
        "ingest-all": [
            "tap-coinbase target-s3-parquet tap-binance target-s3-parquet "
            "tap-kraken target-s3-parquet"
        ],
    }
    assert PROJECT["schedules"] == [
        {"name": "ingest-all-every-30-minutes", "interval": "*/30 * * * *", "job": "ingest-all"}
    ]
