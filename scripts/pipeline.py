"""`make run` and `make demo`: the Meltano pipeline for someone on a fresh clone.

run   checks that every exchange answers, installs the plugins, runs `ingest-all` into ./output.
      When an exchange cannot be reached it stops with one line that says so and points to
      `make demo` (a stack trace from deep inside a tap is no way to learn "no internet").
demo  starts the exchange simulators (Coinbase, Binance, Kraken) on loopback, runs a dump
      backfill in BATCH mode (`demo-batch` environment), then `ingest-all` in the `demo`
      environment twice (cold start, then incremental from the saved state), runs `schemahub
      check`, a sample query and `schemahub report`, stops the simulators
      and ends with "Explore:" and the commands to look at the data.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
JOB = "ingest-all"
# Which path proves each exchange is reachable: cheap, public, no key.
PROBES = {
    "tap-coinbase": ("Coinbase", "/products"),
    "tap-binance": ("Binance", "/api/v3/ping"),
    "tap-kraken": ("Kraken", "/0/public/Time"),
}
# meltano.yml's demo environment uses these.
DEMO_PORTS = {"coinbase": 8701, "binance": 8702, "kraken": 8703}
DEMO_OUTPUT = ROOT / "output" / "demo"
DEMO_STATE_IDS = [f"demo:{tap}-to-target-s3-parquet" for tap in PROBES]
# The dump backfill: meltano.yml's demo-batch environment (BATCH mode), days of dumps before today.
BACKFILL = ("tap-binance", "target-s3-parquet")
BACKFILL_ENVIRONMENT = "demo-batch"
BACKFILL_DAYS = 2

SUMMARY_SQL = (
    "SELECT exchange, symbol, count(*) AS trades, min(trade_ts) AS first_trade,"
    " max(trade_ts) AS last_trade FROM trades_unified GROUP BY ALL ORDER BY ALL"
)
VWAP_SQL = (
    "SELECT exchange, symbol, time_bucket(INTERVAL 1 minute, trade_ts) AS minute,"
    " round(sum(price * quantity) / sum(quantity), 2) AS vwap,"
    " round(sum(quantity), 4) AS volume, count(*) AS trades"
    " FROM trades_unified GROUP BY ALL ORDER BY minute DESC, exchange, symbol LIMIT 12"
)


def meltano_executable() -> str:
    """Return the meltano binary: $MELTANO, the repo's .venv-meltano, or meltano on PATH."""
    candidates = [os.environ.get("MELTANO"), str(ROOT / ".venv-meltano" / "bin" / "meltano")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("meltano")
    if not found:
        sys.exit("meltano is not installed: run `make install` (it creates .venv-meltano)")
    return found


def schemahub_executable() -> str:
    """Return the `schemahub` command installed beside this interpreter."""
    beside = Path(sys.executable).with_name("schemahub")
    return str(beside) if beside.exists() else "schemahub"


def meltano(*args: str, environment: str, capture: bool = False) -> subprocess.CompletedProcess:
    """Run one meltano command in the project root; output streams to the console."""
    command = [meltano_executable(), f"--environment={environment}", *args]
    return subprocess.run(command, cwd=ROOT, text=True, capture_output=capture, check=False)


def plugin_config(plugin: str, environment: str) -> dict:
    """Return a plugin's resolved configuration (meltano.yml, environment, env variables)."""
    result = meltano("config", "print", plugin, environment=environment, capture=True)
    if result.returncode != 0:
        sys.exit(f"cannot read the {plugin} configuration:\n{result.stderr.strip()}")
    return dict(json.loads(result.stdout))


def unreachable_exchange(environment: str, timeout: float = 10.0) -> str | None:
    """Return one line naming the first exchange that cannot be reached, or None."""
    for plugin, (exchange, path) in PROBES.items():
        api_url = str(plugin_config(plugin, environment)["api_url"]).rstrip("/")
        try:
            # Any HTTP answer (even an error status) means the network path works; the tap
            # itself explains 4xx such as Binance's 451 (restricted location).
            requests.get(api_url + path, timeout=timeout)
        except requests.RequestException as exc:
            reason = type(exc).__name__
            return (
                f"make run: cannot reach {exchange} at {api_url} ({reason}); this machine seems"
                " to have no route to the exchange. Run `make demo` to see the whole pipeline"
                " work offline against local exchange simulators."
            )
    return None


def install_plugins(environment: str) -> None:
    """`meltano install` (quick when the plugin virtualenvs already exist)."""
    if meltano("install", environment=environment).returncode != 0:
        sys.exit("meltano install failed (see the log above)")


def run_job(environment: str, *extra: str) -> None:
    """`meltano run ingest-all`; exit with a clear line when it fails."""
    started = time.monotonic()
    code = meltano("run", JOB, *extra, environment=environment).returncode
    if code != 0:
        sys.exit(
            f"meltano run {JOB} (environment {environment}) failed with exit code {code}:"
            " the error is in the log above. A run that was killed blocks reruns for ~5"
            " minutes: add --force (docs/operations.md)."
        )
    print(f"--- meltano run {JOB} finished in {time.monotonic() - started:.1f}s")


def run_backfill() -> None:
    """The demo's dump backfill in BATCH mode: BNBBTC from the dumps of the last days."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (today - timedelta(days=BACKFILL_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(
        f"--- run 0: dump backfill from {start} in BATCH mode (environment {BACKFILL_ENVIRONMENT})"
    )
    started = time.monotonic()
    command = [meltano_executable(), f"--environment={BACKFILL_ENVIRONMENT}", "run", *BACKFILL]
    env = {**os.environ, "TAP_BINANCE_START_DATE": start}
    if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:
        sys.exit(
            f"the dump backfill ({' '.join(command[1:])}) failed: the error is in the log above"
        )
    print(f"--- dump backfill finished in {time.monotonic() - started:.1f}s")


def cmd_run(_: argparse.Namespace) -> int:
    """`make run`: live exchanges into ./output."""
    problem = unreachable_exchange("dev")
    if problem:
        print(problem, file=sys.stderr)
        return 1
    install_plugins("dev")
    run_job("dev")
    print("Done. Explore: .venv/bin/schemahub query 'SELECT count(*) FROM trades_unified'")
    return 0


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Block until something listens on 127.0.0.1:port, or fail if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the simulator on port {port} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"the simulator did not listen on port {port} within {timeout:.0f}s")


def ensure_demo_ports_free() -> None:
    """Stop with a message naming the port when a simulator's port is already taken."""
    for exchange, port in DEMO_PORTS.items():
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(
                    f"port {port} (the demo {exchange} simulator) is already in use: stop"
                    " whatever listens there (an earlier demo?) and retry. Nothing was"
                    f" deleted: {DEMO_OUTPUT} and the demo state are as they were."
                )


@contextmanager
def simulators(speed: float) -> Iterator[None]:
    """Run the simulators (market clock at `speed` x real time) for the block's duration."""
    processes: list[subprocess.Popen] = []
    try:
        for exchange, port in DEMO_PORTS.items():
            command = [schemahub_executable(), "sim", exchange, "--port", str(port)]
            clock = ["--clock", "realtime"] if speed == 1 else ["--clock", "accelerated"]
            command += [*clock, "--speed", str(speed)]
            processes.append(subprocess.Popen(command, cwd=ROOT))
            _wait_for_port(port, processes[-1])
        ports = ", ".join(f"{name} on :{port}" for name, port in DEMO_PORTS.items())
        print(f"--- simulators up: {ports}")
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        print("--- simulators stopped")


def schemahub(*args: str) -> int:
    """Run and echo one `schemahub` command, as a newcomer would type it."""
    print(f"\n$ schemahub {' '.join(args[:1])} {' '.join(repr(a) for a in args[1:])}", flush=True)
    return subprocess.run([schemahub_executable(), *args], cwd=ROOT, check=False).returncode


def cmd_demo(args: argparse.Namespace) -> int:
    """`make demo`: the simulators, two runs, check, query, summary."""
    ensure_demo_ports_free()  # before the clean-up below: a failed start must delete nothing
    # A clean slate each time: the simulators' history is new, so old watermarks are not.
    shutil.rmtree(DEMO_OUTPUT, ignore_errors=True)
    for state_id in DEMO_STATE_IDS:
        meltano("state", "clear", "--force", state_id, environment="demo", capture=True)
    backfill_state = f"{BACKFILL_ENVIRONMENT}:{BACKFILL[0]}-to-{BACKFILL[1]}"
    meltano(
        "state", "clear", "--force", backfill_state, environment=BACKFILL_ENVIRONMENT, capture=True
    )
    install_plugins("demo")
    with simulators(args.speed):
        run_backfill()
        print("--- run 1: cold start (the last lookback_minutes of each product)")
        run_job("demo")
        time.sleep(args.pause)
        print(f"--- run 2: incremental from the saved watermarks ({args.pause:.0f}s later)")
        run_job("demo")
    output = str(DEMO_OUTPUT.relative_to(ROOT))
    check_code = schemahub("check", "--output-uri", output, "--max-age", "10m")
    schemahub("query", SUMMARY_SQL, "--output-uri", output)
    schemahub("query", VWAP_SQL, "--output-uri", output)
    schemahub("tables", "--output-uri", output)
    schemahub("report", "--output-uri", output, "--out", f"{output}/report.html")
    print(
        f"\nDemo finished; the data is in {output}/: raw/ (the JSONL audit trail) and the"
        f" Iceberg table schemahub.trades_unified (catalog {output}/catalog.db, files under"
        f" {output}/schemahub/); pyiceberg opens it too (target-s3-parquet/README.md)."
    )
    print(explore_commands(output))
    return check_code


def explore_commands(output: str) -> str:
    """The closing lines of the demo: commands that work when pasted in the repository root."""
    command = os.path.relpath(schemahub_executable(), ROOT)
    if os.sep not in command:  # found on PATH, not beside this interpreter
        command = "schemahub"
    return "\n".join(
        [
            "Explore:",
            f"  {command} check --output-uri {output} --max-age off",
            f"  {command} query {shlex.quote(SUMMARY_SQL)} --output-uri {output}",
            f"  {command} report --output-uri {output} --out {output}/report.html"
            f"   # then open {output}/report.html in a browser",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the subcommand and run it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="live exchanges into ./output").set_defaults(func=cmd_run)
    demo = sub.add_parser("demo", help="offline demo against local simulators")
    demo.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    demo.add_argument("--pause", type=float, default=10.0, help="seconds between the two runs")
    demo.set_defaults(func=cmd_demo)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
