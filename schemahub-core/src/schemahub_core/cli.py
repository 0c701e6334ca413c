"""The `schemahub` command: simulators, data quality, SQL, and the table's maintenance."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# How a process killed by SIGPIPE ends (128 + 13), what shells show for `yes | head -1`.
EXIT_BROKEN_PIPE = 141

# Each subcommand lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`,
# imported lazily so that `schemahub --help` works without the optional extras installed.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("schemahub_core.sim.cli", "run a local exchange simulator (needs schemahub-core[sim])"),
    "check": ("schemahub_core.check", "data-quality report over the unified table (needs [query])"),
    "query": ("schemahub_core.query", "run SQL over the unified table with DuckDB (needs [query])"),
    "tables": (
        "schemahub_core.tables",
        "list the Iceberg tables and their snapshots (needs [query])",
    ),
    # Rewrites a table with the target's Iceberg writer, so it lives in target-s3-parquet.
    "migrate": (
        "target_s3_parquet.migrate",
        "turn a Hive-layout trades_unified into an Iceberg table (needs target-s3-parquet)",
    ),
    # Table maintenance writes data files like the target does, so it lives there too.
    "compact": (
        "target_s3_parquet.compact",
        "bin-pack small files of the Iceberg trades_unified (needs target-s3-parquet)",
    ),
    "rebuild": (
        "target_s3_parquet.rebuild",
        "re-derive partitions of trades_unified from the raw layer (needs target-s3-parquet)",
    ),
    "expire": (
        "target_s3_parquet.expire",
        "expire old snapshots, delete unreferenced files (needs target-s3-parquet)",
    ),
    "report": (
        "schemahub_core.report",
        "HTML page of charts over the unified table (needs [report])",
    ),
}


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that ends each option with its default, unless its text already explains it.

    argparse's ArgumentDefaultsHelpFormatter would print "(default: None)" for options whose
    default is "unset" and repeat defaults that the text already words (environment variables).
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if (
            not action.option_strings
            or "default" in help_text
            or action.default in (None, False, argparse.SUPPRESS)
        ):
            return help_text
        return f"{help_text} (default: %(default)s)"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand listed.

    Only ``command``'s module is imported and given its options (every one when None): the
    others would import pyiceberg, plotly or the simulators for nothing, seconds of CPU per
    call. The top-level help needs none of them.
    """
    parser = argparse.ArgumentParser(
        prog="schemahub", description=__doc__, formatter_class=DefaultsHelpFormatter
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(
            name, help=help_text, description=help_text, formatter_class=DefaultsHelpFormatter
        )
        if command not in (None, name):
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            sub.set_defaults(subcommand_missing=f"`schemahub {name}` is unavailable: {exc}")
            continue
        module.add_arguments(sub)
        sub.set_defaults(subcommand_run=module.run)
    return parser


def chosen_subcommand(argv: Sequence[str]) -> str:
    """The subcommand ``argv`` names ("" for none: `schemahub --help`, a typo)."""
    first = next((arg for arg in argv if not arg.startswith("-")), "")
    return first if first in SUBCOMMANDS else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `schemahub` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(chosen_subcommand(argv)).parse_args(argv)
    missing = getattr(args, "subcommand_missing", None)
    if missing:
        print(missing, file=sys.stderr)
        return 2
    try:
        code = int(args.subcommand_run(args))
        sys.stdout.flush()  # a reader that went away shows up here, inside the try
    except BrokenPipeError:
        # `schemahub check --json | head -1`: the reader has all it wanted; no traceback.
        # stdout now points at /dev/null so that Python's own flush at exit cannot fail
        # again (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
