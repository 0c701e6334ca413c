"""No secret reaches any output of any SchemaHub program, even at LOGLEVEL=DEBUG.

Every plugin runs as a real process at DEBUG with distinctive secret values: both taps
against their simulators, the target against a moto S3 server, `schemahub check` and
`schemahub query` on that S3 output. Everything they print and everything they write is
searched for the secrets.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from schemahub_core.sim import start_simulator
from schemahub_core.testing import moto_server

BIN = Path(sys.executable).parent
CONFIG_SECRETS = {
    "aws_access_key_id": "AKIASECRETCANARY1",
    "aws_secret_access_key": "secret-access-canary-2",
    "aws_session_token": "session-token-canary-3",
}
BINANCE_API_KEY = "binance-api-key-canary-4"
# Credentials no setting or variable holds: an ECS task role, served by the container
# credentials endpoint (here a local stand-in that botocore's ContainerProvider queries).
TASK_ROLE = {
    "AccessKeyId": "ASIAROLECANARY5",
    "SecretAccessKey": "role-secret-canary-6",
    "Token": "role-session-token-canary-7",
}
SECRETS = [*CONFIG_SECRETS.values(), BINANCE_API_KEY, *TASK_ROLE.values()]


def debug_env(**extra: str) -> dict[str, str]:
    """A clean environment at DEBUG: no AWS variables but the ones given."""
    env = {
        "PATH": str(BIN) + ":/usr/bin:/bin",
        "LOGLEVEL": "DEBUG",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return {**env, **extra}


def run(command: list[str], env: dict[str, str], cwd: Path, stdin: str = "") -> tuple[str, str]:
    """Run one program in ``cwd`` to completion; return its stdout and stderr."""
    result = subprocess.run(
        command,
        input=stdin,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, result.stderr


def stored_text(key: str, body: bytes) -> str:
    """An S3 object's content as text: gzip JSONL unpacked, Parquet read back as rows."""
    if key.endswith(".gz"):
        body = gzip.decompress(body)
    elif key.endswith(".parquet"):
        return str(pq.read_table(io.BytesIO(body)).to_pylist())
    return body.decode("latin-1")


@pytest.fixture
def task_role_endpoint() -> Iterator[str]:
    """A container credentials endpoint handing out TASK_ROLE (as ECS does)."""
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({**TASK_ROLE, "Expiration": expires}).encode()

    class Credentials(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Credentials)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/credentials"
    server.shutdown()


@pytest.mark.slow
def test_no_secret_reaches_any_output_at_debug_level(tmp_path, task_role_endpoint):
    coinbase = start_simulator("coinbase", seed=3, port=0, clock="frozen")
    binance = start_simulator("binance", seed=3, port=0, clock="frozen")
    configs, work = tmp_path / "configs", tmp_path / "work"  # what the programs write: work/
    configs.mkdir()
    work.mkdir()
    outputs: list[str] = []
    singer_messages = ""
    try:
        with moto_server() as endpoint:
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="lake")
            taps = {
                "tap-coinbase": {"api_url": coinbase.url, "product_ids": ["BTC-USD"]},
                "tap-binance": {
                    "api_url": binance.url,
                    "bulk_url": binance.bulk_url,
                    "symbols": ["BTCUSDT"],
                    "backfill_source": "rest",
                    "api_key": BINANCE_API_KEY,
                },
            }
            for tap, config in taps.items():
                config_file = configs / f"{tap}.json"
                config_file.write_text(json.dumps({**config, "lookback_minutes": 1}))
                stdout, stderr = run(
                    [str(BIN / tap), "--config", str(config_file)], debug_env(), work
                )
                singer_messages += stdout
                outputs += [stdout, stderr]

            # The default table format, Iceberg, in moto's Glue catalog (as in prod). moto's
            # backends are shared by every moto server of this process: drop an earlier table.
            glue = boto3.client("glue", endpoint_url=endpoint)
            with contextlib.suppress(glue.exceptions.EntityNotFoundException):
                glue.delete_table(DatabaseName="schemahub", Name="trades_unified")
            catalog = {"type": "glue", "glue.endpoint": endpoint, "glue.region": "us-east-1"}
            target_config = {
                "s3_endpoint_url": endpoint,
                "aws_region": "us-east-1",
                "iceberg_catalog": catalog,
            }
            # Credentials in the config, then only from the task role.
            for name, extra, env in (
                ("keys", CONFIG_SECRETS, debug_env()),
                ("role", {}, debug_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=task_role_endpoint)),
            ):
                config_file = configs / f"target-{name}.json"
                uri = f"s3://lake/{name}"
                config_file.write_text(json.dumps({**target_config, **extra, "output_uri": uri}))
                target = [str(BIN / "target-s3-parquet"), "--config", str(config_file)]
                outputs += run(target, env, work, stdin=singer_messages)

            aws_env = debug_env(
                AWS_ACCESS_KEY_ID=CONFIG_SECRETS["aws_access_key_id"],
                AWS_SECRET_ACCESS_KEY=CONFIG_SECRETS["aws_secret_access_key"],
                AWS_SESSION_TOKEN=CONFIG_SECRETS["aws_session_token"],
            )
            location = ["--output-uri", "s3://lake/keys", "--s3-endpoint-url", endpoint]
            location += ["--iceberg-catalog", json.dumps(catalog)]
            schemahub = str(BIN / "schemahub")
            outputs += run([schemahub, "check", *location, "--max-age", "off"], aws_env, work)
            query = "SELECT exchange, count(*) AS trades FROM trades_unified GROUP BY ALL"
            outputs += run([schemahub, "query", query, *location], aws_env, work)

            s3 = boto3.client("s3", endpoint_url=endpoint)
            for listed in s3.list_objects_v2(Bucket="lake").get("Contents", []):
                body = s3.get_object(Bucket="lake", Key=listed["Key"])["Body"].read()
                outputs.append(stored_text(listed["Key"], body))
    finally:
        coinbase.stop()
        binance.stop()
    outputs += [path.read_text("latin-1") for path in work.rglob("*") if path.is_file()]

    everything = "\n".join(outputs)
    # The runs did run, at DEBUG, and wrote both exchanges' trades.
    assert "DEBUG" in everything
    assert "BINANCE" in everything
    assert "COINBASE" in everything
    leaked = [secret for secret in SECRETS if secret in everything]
    assert not leaked, f"secrets in the output: {leaked}"
