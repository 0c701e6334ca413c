"""Write the Meltano Hub plugin definitions under plugins/ from meltano.yml (the one source).

Another Meltano project adds a plugin of this repository with
`meltano add <type> <name> --from-ref <URL or path of its plugins/... file>`. Each definition is
meltano.yml's entry (settings, capabilities, executable) plus what the Hub format adds: the
variant `schemahub` (the Hub already lists other `target-s3-parquet` variants), a label, the
repository, and a pip_url that installs from git with schemahub-core beside the plugin.

    .venv/bin/python scripts/plugin_definitions.py          # rewrite plugins/
    .venv/bin/python scripts/plugin_definitions.py --check  # exit 1 when plugins/ is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
VARIANT = "schemahub"
REPO = "https://github.com/schemahub/schemahub"
HUB_FIELDS = {
    "tap-coinbase": {
        "label": "Coinbase Exchange trades (SchemaHub)",
        "description": "Every public trade of Coinbase Exchange products, resumable by trade id",
    },
    "tap-binance": {
        "label": "Binance trades (SchemaHub)",
        "description": "Every public trade of Binance and Binance.US symbols, with bulk backfill",
    },
    "tap-kraken": {
        "label": "Kraken trades (SchemaHub)",
        "description": "Every public trade of Kraken pairs, resumable by trade id",
    },
    "target-s3-parquet": {
        "label": "S3 Parquet, exactly-once trades (SchemaHub)",
        "description": "Raw JSONL audit trail plus an exactly-once unified trades table on S3",
    },
}


def git_pip_url(package: str) -> str:
    """pip_url installing ``package`` and schemahub-core (not on PyPI) from the repository."""
    return " ".join(
        f"git+{REPO}.git#subdirectory={folder}" for folder in ("schemahub-core", package)
    )


def definition(entry: dict[str, Any]) -> dict[str, Any]:
    """The Hub-format definition of one meltano.yml plugin entry."""
    name = entry["name"]
    return {
        "name": name,
        "variant": VARIANT,
        "namespace": entry["namespace"],
        # A plugin added to meltano.yml later gets a plain label until it is given one here.
        **HUB_FIELDS.get(name, {"label": f"{name} (SchemaHub)", "description": name}),
        "repo": REPO,
        "docs": f"{REPO}/tree/main/{name}#readme",
        "pip_url": git_pip_url(name),
        "executable": entry["executable"],
        "capabilities": entry["capabilities"],
        "settings": entry["settings"],
    }


def definitions() -> dict[Path, str]:
    """Every definition file (path under the repository -> YAML text) meltano.yml implies."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    files = {}
    for plugin_type, entries in project["plugins"].items():
        for entry in entries:
            path = Path("plugins") / plugin_type / f"{entry['name']}--{VARIANT}.yml"
            header = (
                "# Generated from meltano.yml by scripts/plugin_definitions.py: edit meltano.yml.\n"
                f"# meltano add {plugin_type[:-1]} {entry['name']} --from-ref <this file's URL>\n"
            )
            body = yaml.safe_dump(definition(entry), sort_keys=False, width=100)
            files[path] = header + body
    return files


def main(argv: list[str] | None = None) -> int:
    """Write plugins/ (or, with --check, report whether it is up to date)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if plugins/ is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in definitions().items():
        target = ROOT / path
        if target.exists() and target.read_text() == text:
            continue
        stale.append(str(path))
        if not args.check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    if args.check and stale:
        print(f"stale: {', '.join(stale)}; run scripts/plugin_definitions.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
