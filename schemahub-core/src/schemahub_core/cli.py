"""The `schemahub` command: `sim` (exchange simulators), later `check` and `query`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each subcommand lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`,
# imported lazily so that `schemahub --help` works without the optional extras installed.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("schemahub_core.sim.cli", "run a local exchange simulator (needs schemahub-core[sim])"),
    "check": ("schemahub_core.check", "data-quality report over the unified table (needs [query])"),
    "query": ("schemahub_core.query", "run SQL over the unified table with DuckDB (needs [query])"),
    "report": (
        "schemahub_core.report",
        "HTML page of charts over the unified table (needs [report])",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(prog="schemahub", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            sub.set_defaults(_missing=f"`schemahub {name}` is unavailable: {exc}")
            continue
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `schemahub` console script."""
    args = build_parser().parse_args(argv)
    missing = getattr(args, "_missing", None)
    if missing:
        print(missing, file=sys.stderr)
        return 2
    return int(args._run(args))


if __name__ == "__main__":
    sys.exit(main())
