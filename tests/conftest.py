"""Fixtures of the end-to-end tests: one installed Meltano project shared by the session.

The project is a temporary copy of the root meltano.yml whose package folders are symlinks to
the repository, so plugin pip_urls (`-e ./tap-coinbase`) resolve exactly as in a clone.
Plugins are installed once per session; each test gets its own Meltano system database
(MELTANO_DATABASE_URI), output folder and simulators, so tests never share state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MELTANO = os.environ.get("MELTANO") or str(ROOT / ".venv-meltano" / "bin" / "meltano")
LINKED = (
    "schemahub-core",
    "tap-coinbase",
    "tap-binance",
    "tap-kraken",
    "target-s3-parquet",
    "mappings",
    "logging",
)
# PyPI plugins of the reuse tests, declared only in the test project (not the product's).
REUSE_PLUGINS = """
  - name: tap-jsonl
    namespace: tap_jsonl
    pip_url: tap-jsonl==0.3.1
    executable: tap-jsonl
    capabilities: [catalog, discover, state, about]
    settings:
    - {name: path, kind: string}
    - {name: stream_name, kind: string}
    - {name: primary_keys, kind: array}
"""
REUSE_LOADER = """
  - name: target-jsonl
    namespace: target_jsonl
    pip_url: target-jsonl==0.1.4
    executable: target-jsonl
    settings:
    - {name: destination_path, kind: string}
    - {name: do_timestamp_file, kind: boolean}
"""


def _test_meltano_yml() -> str:
    """The root meltano.yml plus the PyPI plugins used by the reuse tests."""
    text = (ROOT / "meltano.yml").read_text()
    text = text.replace("\n  loaders:\n", REUSE_PLUGINS + "\n  loaders:\n", 1)
    return text.replace("\nenvironments:\n", REUSE_LOADER + "\nenvironments:\n", 1)


@dataclass
class MeltanoProject:
    """An installed Meltano project and the environment variables of the current test."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def command(self, *args: str, environment: str = "dev") -> list[str]:
        """The argv of one meltano command in this project."""
        return [MELTANO, f"--environment={environment}", *args]

    def run(
        self, *args: str, environment: str = "dev", timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess:
        """Run meltano to completion; on failure show the tail of its log.

        The timeout only catches hangs: `ingest-all` starts two targets, each importing
        pyiceberg, and took over 180 s on the shared 2-core machine at load 9.
        """
        result = subprocess.run(
            self.command(*args, environment=environment),
            cwd=self.root,
            env=self.env,
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"meltano {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
            )
        return result

    def start(self, *args: str, environment: str = "dev", log: Path) -> subprocess.Popen:
        """Start meltano in its own process group (so a test can SIGKILL the whole tree)."""
        with open(log, "ab") as sink:
            return subprocess.Popen(
                self.command(*args, environment=environment),
                cwd=self.root,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @staticmethod
    def kill_group(process: subprocess.Popen) -> None:
        """SIGKILL meltano, its tap and its target at once, like a lost machine."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def installed_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Meltano project with every plugin installed once for the whole session."""
    if not Path(MELTANO).exists():
        pytest.fail(f"meltano not found at {MELTANO}: run `make install` (creates .venv-meltano)")
    root = tmp_path_factory.mktemp("meltano-project")
    for name in LINKED:
        (root / name).symlink_to(ROOT / name, target_is_directory=True)
    (root / "meltano.yml").write_text(_test_meltano_yml())
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = subprocess.run(
        [MELTANO, "install"], cwd=root, env=env, text=True, capture_output=True, timeout=900
    )
    if result.returncode != 0:
        pytest.fail(f"meltano install failed:\n{result.stderr[-6000:]}")
    return root


@pytest.fixture
def meltano_project(installed_project: Path, tmp_path: Path) -> Iterator[MeltanoProject]:
    """The shared project with a fresh system database and output folder for this test."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TAP_", "TARGET_", "MELTANO_", "AWS_"))
    }
    env.update(
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}",
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        MELTANO_CLI_LOG_LEVEL="info",
        TARGET_S3_PARQUET_OUTPUT_URI=str(tmp_path / "output"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    yield MeltanoProject(root=installed_project, env=env)
    shutil.rmtree(tmp_path / "output", ignore_errors=True)


@dataclass
class Exchanges:
    """The simulators of one test (frozen market clocks: the oracle is exact)."""

    coinbase: object
    binance: object
    kraken: object

    def advance(self, seconds: float) -> None:
        """Move every market clock forward: new trades become visible."""
        self.coinbase.advance(seconds)  # type: ignore[attr-defined]
        self.binance.advance(seconds)  # type: ignore[attr-defined]
        self.kraken.advance(seconds)  # type: ignore[attr-defined]


@pytest.fixture
def exchanges(meltano_project: MeltanoProject) -> Iterator[Exchanges]:
    """Coinbase, Binance and Kraken simulators on free loopback ports, wired into the taps."""
    from schemahub_core.sim import start_simulator

    coinbase = start_simulator("coinbase", seed=7, port=0, clock="frozen")
    binance = start_simulator("binance", seed=7, port=0, clock="frozen")
    kraken = start_simulator("kraken", seed=7, port=0, clock="frozen")
    meltano_project.env.update(
        TAP_COINBASE_API_URL=coinbase.url,
        TAP_BINANCE_API_URL=binance.url,
        TAP_BINANCE_BULK_URL=binance.bulk_url,
        TAP_BINANCE_BACKFILL_SOURCE="rest",
        TAP_KRAKEN_API_URL=kraken.url,
    )
    try:
        yield Exchanges(coinbase=coinbase, binance=binance, kraken=kraken)
    finally:
        coinbase.stop()
        binance.stop()
        kraken.stop()


Trade = tuple[str, float, float, str, dt.datetime]  # trade_id, price, quantity, side, trade_ts


class Truth:
    """What the unified table holds, and what it must hold according to the simulators."""

    @staticmethod
    def table(output_uri: str, exchange: str, symbol: str, **location: str) -> list[Trade]:
        """The unified rows of one (exchange, symbol), ordered by integer trade id."""
        from schemahub_core.query import run_query

        rows = run_query(
            "SELECT trade_id, price, quantity, side, trade_ts FROM trades_unified"
            f" WHERE exchange = '{exchange}' AND symbol = '{symbol}'"
            " ORDER BY CAST(trade_id AS BIGINT)",
            output_uri,
            **location,
        ).to_pylist()
        return [(r["trade_id"], r["price"], r["quantity"], r["side"], r["trade_ts"]) for r in rows]

    @staticmethod
    def coinbase(sim: object, product: str, first_id: int, last_id: int) -> list[Trade]:
        """The simulator's Coinbase trades first_id..last_id, mapped by hand (maker side)."""
        trades = sim.oracle.trades(product, first_id, last_id)  # type: ignore[attr-defined]
        taker = {"buy": "SELL", "sell": "BUY"}  # Coinbase reports the maker's side
        return [
            (
                str(t["trade_id"]),
                float(t["price"]),
                float(t["size"]),
                taker[t["side"]],
                dt.datetime.fromisoformat(t["time"].replace("Z", "+00:00")),
            )
            for t in trades
        ]

    @staticmethod
    def binance(sim: object, symbol: str, first_id: int, last_id: int) -> list[Trade]:
        """The simulator's Binance trades first_id..last_id (microsecond times), by hand."""
        trades = sim.oracle.trades(symbol, first_id, last_id)  # type: ignore[attr-defined]
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return [
            (
                str(t["id"]),
                float(t["price"]),
                float(t["qty"]),
                "SELL" if t["isBuyerMaker"] else "BUY",
                epoch + dt.timedelta(microseconds=t["time"]),
            )
            for t in trades
        ]

    @staticmethod
    def kraken(sim: object, pair: str, first_id: int, last_id: int) -> list[Trade]:
        """The simulator's Kraken trades first_id..last_id, by hand (time cut to the µs)."""
        rows = sim.oracle.trades(pair, first_id, last_id)  # type: ignore[attr-defined]
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

        def trade_ts(text: str) -> dt.datetime:
            seconds, _, fraction = text.partition(".")
            micros = int((fraction + "000000")[:6])
            return epoch + dt.timedelta(seconds=int(seconds), microseconds=micros)

        return [
            (str(r[6]), float(r[0]), float(r[1]), "BUY" if r[3] == "b" else "SELL", trade_ts(r[2]))
            for r in rows
        ]


@pytest.fixture
def truth() -> type[Truth]:
    """Helpers comparing the unified table with the simulators' oracle."""
    return Truth
