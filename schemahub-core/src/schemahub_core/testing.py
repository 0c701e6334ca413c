"""Test helpers shared by every SchemaHub package.

Free loopback ports, processes started to race at one point, a local moto AWS server,
packages installed alone in a new virtualenv, recorded answers served on loopback, JSON
shapes, a tap's Singer output run in-process and split by kind.

Needs no pytest. `moto_server` needs moto[server], a test-only dependency (the `test` extra),
so moto is imported inside it: importing this module never requires moto.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# What moto_server puts in the environment: boto3 and pyarrow then never look for real AWS
# credentials (config files, instance metadata), and every client signs for one region.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_at_once(work: Callable[..., None], *args: Any, processes: int) -> list[int | None]:
    """Run `work(barrier, *args)` in `processes` forked processes; their exit codes.

    Each calls `barrier.wait()` where the processes must meet, so they reach that point
    within a moment of each other: a race that processes started one after another rarely
    hit. A process still running after 60 s is killed and counts as failed (None).
    """
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    started = [context.Process(target=work, args=(barrier, *args)) for _ in range(processes)]
    for process in started:
        process.start()
    for process in started:
        process.join(60)
    codes = [process.exitcode for process in started]
    for process in started:
        if process.is_alive():
            process.kill()
    return codes


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Run a moto server (every AWS service moto emulates) on a free loopback port.

    Yields its URL ("http://127.0.0.1:<port>"); clients must be given it as their endpoint.
    While it runs, the environment holds DUMMY_AWS_ENV and no AWS_PROFILE; on exit the server
    stops and the whole environment is restored as it was on entry (so changes a caller makes
    inside the block, e.g. AWS_ENDPOINT_URL, are undone too).
    """
    from moto.server import ThreadedMotoServer

    saved = dict(os.environ)
    os.environ.update(DUMMY_AWS_ENV)
    os.environ.pop("AWS_PROFILE", None)
    # werkzeug would log one line per request: noise that buries a failing test's output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved)


def install_in_fresh_virtualenv(
    venv: Path, *packages: Path, timeout: float = 900
) -> tuple[Path, dict[str, str]]:
    """Create a virtualenv at `venv` and `pip install` only `packages` into it.

    Returns its bin folder and the environment to run its programs with (no PYTHONPATH, so
    nothing of this checkout leaks in). Raises AssertionError with pip's output on failure.
    """
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    bin_dir = venv / "bin"
    install = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", *map(str, packages)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if install.returncode != 0:
        names = " ".join(package.name for package in packages)
        raise AssertionError(f"pip install {names} failed:\n{install.stderr[-3000:]}")
    return bin_dir, env


@contextlib.contextmanager
def serve_bodies(bodies: Mapping[str, bytes]) -> Iterator[str]:
    """Serve fixed JSON bodies on a free loopback port, by URL path (query ignored).

    Yields the base URL. For feeding recorded exchange answers to a tap's own API client;
    an unknown path gets a 404 that names it.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            body = bodies.get(path, f'{{"message": "no recorded body for {path}"}}'.encode())
            self.send_response(200 if path in bodies else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read the answers, not an access log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def json_shape(value: Any) -> Any:
    """The shape of a decoded JSON value: its keys, nesting and JSON types, not its values.

    An object keeps its keys; an array whose items share one shape is `("array", shape)`, one
    of scalars typed by position (Kraken's trade rows) is `("tuple", (type, ...))`, any other
    `("mixed", (repr of each distinct shape, ...))`; a scalar becomes its JSON type name.
    Two answers with equal shapes are parsed the same way.
    """
    if isinstance(value, dict):
        return {key: json_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = [json_shape(item) for item in value]
        if all(shape == shapes[0] for shape in shapes[1:]):
            return ("array", shapes[0] if shapes else None)
        if all(isinstance(shape, str) for shape in shapes):
            return ("tuple", tuple(shapes))
        distinct: list[Any] = []
        for shape in shapes:
            if shape not in distinct:
                distinct.append(shape)
        return ("mixed", tuple(map(repr, distinct)))
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string"}[type(value)]


@dataclass
class SingerOutput:
    """The Singer messages of one tap run: records per stream and STATE values, in order."""

    messages: list[dict[str, Any]]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Any:
        """Split the Singer lines of ``text`` (a tap's stdout) into an instance of ``cls``."""
        out = cls(messages=[json.loads(line) for line in text.splitlines() if line.strip()])
        for message in out.messages:
            if message["type"] == "RECORD":
                out.records.setdefault(message["stream"], []).append(message["record"])
            elif message["type"] == "STATE":
                out.states.append(message["value"])
        return out

    @property
    def final_state(self) -> dict[str, Any]:
        """The last STATE value printed."""
        return self.states[-1]


def sync_in_process(tap_class: Any, config: dict[str, Any], state: dict[str, Any] | None) -> str:
    """Run ``tap_class`` (a singer-sdk Tap) over every stream in this process; return its stdout."""
    # singer-sdk updates the state dict it is given in place: hand it a copy.
    state = copy.deepcopy(state) if state is not None else None
    tap = tap_class(config=config, state=state, parse_env_config=False)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tap.sync_all()
    return buffer.getvalue()


def partition_state(state: dict[str, Any], stream: str, context: dict[str, Any]) -> dict[str, Any]:
    """The bookmark of ``stream``'s partition ``context`` in a Singer state ({} if none)."""
    partitions = state.get("bookmarks", {}).get(stream, {}).get("partitions", [])
    return next((p for p in partitions if p["context"] == context), {})


def about(program: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """What ``program --about --format=json`` says (a tap or target executable): name, settings."""
    about = subprocess.run(
        [str(program), "--about", "--format=json"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert about.returncode == 0, about.stderr[-3000:]
    described: dict[str, Any] = json.loads(about.stdout)
    return described


def installed_tap(
    test_file: str, venv: Path, settings: Sequence[str]
) -> tuple[Path, dict[str, str]]:
    """The tap of the package holding ``test_file``, pip-installed with schemahub-core alone.

    Installs both into a fresh virtualenv at ``venv`` and checks that ``--about`` names the
    tap and describes each of ``settings``. Returns the tap's executable and the environment
    to run it with.
    """
    package = Path(test_file).resolve().parents[1]
    bin_dir, env = install_in_fresh_virtualenv(venv, package.parent / "schemahub-core", package)
    tap = bin_dir / package.name
    described = about(tap, env)
    assert described["name"] == package.name
    properties = described["settings"]["properties"]
    undescribed = [name for name in settings if not properties.get(name, {}).get("description")]
    assert not undescribed, f"{package.name} --about: no description of {undescribed}"
    return tap, env


def sync_with_program(
    program: Path, config: dict[str, Any], folder: Path, env: Mapping[str, str]
) -> str:
    """Run the tap executable ``program`` with ``config`` in ``folder``; return its stdout."""
    (folder / "config.json").write_text(json.dumps(config))
    sync = subprocess.run(
        [str(program), "--config", "config.json"],
        cwd=folder,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sync.returncode == 0, sync.stderr[-2000:]
    return sync.stdout


def recorded_answer(test_file: str, name: str) -> bytes:
    """The recorded body ``recorded/<name>.json`` beside the test module ``test_file``, as is."""
    return (Path(test_file).parent / "recorded" / f"{name}.json").read_bytes()


@contextlib.contextmanager
def running_simulator(
    exchange: str, *, seed: int, config: dict[str, Any] | None = None, **options: Any
) -> Iterator[Any]:
    """A simulator of ``exchange`` without rate limit for the block, then stopped.

    ``config``: a tap config whose ``api_url`` is pointed at it. ``options``: those of
    `schemahub_core.sim.start_simulator` (clock, faults...). Needs the ``sim`` extra.
    """
    from schemahub_core.sim import start_simulator

    sim = start_simulator(exchange, seed=seed, rate_limit=False, **options)
    if config is not None:
        config["api_url"] = sim.url
    try:
        yield sim
    finally:
        sim.stop()


def simulator_fixture(
    exchange: str,
    *,
    seed: int,
    config: dict[str, Any] | None = None,
    autouse: bool = False,
    **options: Any,
) -> Any:
    """A module-scoped pytest fixture named ``simulator``: `running_simulator` for the module.

    Assign it at module level (``simulator = simulator_fixture("kraken", seed=11)``).
    """
    import pytest

    @pytest.fixture(scope="module", name="simulator", autouse=autouse)
    def fixture() -> Iterator[Any]:
        """A simulator of this module's exchange (no rate limit), stopped after the module."""
        with running_simulator(exchange, seed=seed, config=config, **options) as sim:
            yield sim

    return fixture


def standard_tap_tests(
    tap_class: type, exchange: str, *, seed: int, config: dict[str, Any]
) -> tuple[type, Any]:
    """singer-sdk's standard tests of ``tap_class`` and the simulator they run against.

    Returns the test class and a `simulator_fixture` used by every test of the module: assign
    both at module level. singer-sdk takes ``config`` while the module loads; the fixture
    points its ``api_url`` (the same dict) at a fresh simulator of ``exchange`` before the
    first test, so no server starts at import time.
    """
    from singer_sdk.testing import get_tap_test_class

    simulator = simulator_fixture(exchange, seed=seed, config=config, autouse=True)
    return get_tap_test_class(tap_class, config=config), simulator


def assert_unreachable_api_url_fails_fast(sync: Callable[[str], object]) -> None:
    """``sync(api_url)`` against a loopback port nothing listens on fails within 10 s.

    It must raise `ExchangeUnreachableError` naming the URL and the ``api_url`` setting (what
    the person reading it has to fix).
    """
    from schemahub_core.errors import ExchangeUnreachableError

    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    message = None
    try:
        sync(url)
    except ExchangeUnreachableError as error:
        message = str(error)
    if message is None:
        raise AssertionError(f"a sync against {url}, where nothing listens, did not fail")
    assert time.monotonic() - started < 10
    assert f"Cannot connect to GET {url}/" in message
    assert "api_url" in message


def batch_rows(messages: list[dict[str, Any]], stream: str) -> list[list[dict[str, Any]]]:
    """The rows of each local BATCH message of `stream` in `messages`, read back from its files.

    JSONL files are read as JSON lines (gunzipped when the encoding says gzip), Parquet with
    pyarrow. One list per BATCH message, in message order.
    """
    import gzip
    import json
    from urllib.parse import unquote, urlparse

    import pyarrow.parquet as pq

    batches = []
    for message in messages:
        if message["type"] != "BATCH" or message["stream"] != stream:
            continue
        rows: list[dict[str, Any]] = []
        encoding = message["encoding"]
        for url in message["manifest"]:
            path = unquote(urlparse(url).path)
            if encoding["format"] == "parquet":
                rows.extend(pq.read_table(path).to_pylist())
            else:
                gzipped = encoding.get("compression") == "gzip"
                with gzip.open(path, "rt") if gzipped else open(path) as lines:
                    rows.extend(json.loads(line) for line in lines)
        batches.append(rows)
    return batches
