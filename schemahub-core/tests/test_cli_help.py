"""`schemahub --help` and every subcommand's help are current and state every default."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from schemahub_core import cli
from schemahub_core.sim.settings import ONLY

COMMANDS = [
    ["sim"],
    ["sim", "coinbase"],
    ["sim", "binance"],
    ["sim", "kraken"],
    ["check"],
    ["query"],
    ["compact"],
    ["rebuild"],
    ["expire"],
]


@pytest.fixture
def help_of(capsys, monkeypatch):
    """Run `schemahub <argv> --help` in process and return what it printed."""
    monkeypatch.setenv("COLUMNS", "1000")  # one option per entry, no wrapped words

    def run(argv: list[str]) -> str:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*argv, "--help"])
        assert exit_info.value.code == 0
        return capsys.readouterr().out

    return run


def option_entries(help_text: str) -> dict[str, str]:
    """Each option's invocation (`--port PORT`) mapped to its help text."""
    entries: dict[str, str] = {}
    invocation = None
    for line in help_text.splitlines():
        if line.startswith("  -"):
            invocation, _, text = line.strip().partition("  ")
            entries[invocation] = text.strip()
        elif invocation and line.startswith("   ") and line.strip():
            entries[invocation] = (entries[invocation] + " " + line.strip()).strip()
        else:
            invocation = None
    return entries


def takes_a_value(invocation: str) -> bool:
    """`--port PORT` and `--publish-cloudwatch [NAMESPACE]` do; `-h, --help` does not."""
    return re.search(r"-[\w-]+ \S", invocation) is not None


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_every_option_that_takes_a_value_states_its_default(help_of, argv):
    entries = option_entries(help_of(argv))
    assert entries, f"no options found in `schemahub {' '.join(argv)} --help`"
    silent = [
        inv
        for inv, text in entries.items()
        if takes_a_value(inv) and "default" not in text and "(required)" not in text
    ]
    assert not silent, f"`schemahub {' '.join(argv)} --help`: no default stated for {silent}"
    assert not [text for text in entries.values() if "default: None" in text]


def test_simulator_help_shows_the_real_defaults_and_only_its_own_exchange_modes(help_of):
    coinbase = option_entries(help_of(["sim", "coinbase"]))
    assert coinbase["--port PORT"].endswith("(default: 8765)")
    assert coinbase["--burst BURST"].endswith("(default: 15)")
    assert coinbase["--rate-per-second RATE_PER_SECOND"].endswith("(default: 10.0)")
    kraken = option_entries(help_of(["sim", "kraken"]))
    assert kraken["--pair-burst PAIR_BURST"].endswith("(default: 3)")
    binance = option_entries(help_of(["sim", "binance"]))
    assert binance["--weight-limit WEIGHT_LIMIT"].endswith(
        "(default: 6000, or 1200 with --binance-us)"
    )
    for exchange, entries in (("coinbase", coinbase), ("binance", binance), ("kraken", kraken)):
        foreign = {name for other, names in ONLY.items() if other != exchange for name in names}
        shown = {inv.split()[0].removeprefix("--").removeprefix("no-") for inv in entries}
        assert not shown & {name.replace("_", "-") for name in foreign}, exchange


def test_top_level_help_of_the_installed_command_lists_every_subcommand():
    command = Path(sys.executable).with_name("schemahub")
    result = subprocess.run(
        [str(command), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "COLUMNS": "1000"},
    )
    for name, (_, help_text) in cli.SUBCOMMANDS.items():
        assert re.search(rf"^\s+{name}\s+{re.escape(help_text)}", result.stdout, re.MULTILINE)
    assert "later" not in result.stdout


def test_a_subcommand_imports_only_its_own_module():
    """`schemahub query` loads neither the report's plotly nor the simulators (seconds of CPU)."""
    probe = (
        "import sys; from schemahub_core import cli; cli.build_parser('query');"
        "print(sorted(m for m in ('plotly', 'schemahub_core.sim.simulator',"
        " 'schemahub_core.query') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["['schemahub_core.query']"]
