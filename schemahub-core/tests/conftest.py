"""Fixtures shared by schemahub-core's tests."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (S3, CloudWatch) on 127.0.0.1 with dummy credentials; yields its URL.

    The dummy credentials and region keep boto3 and pyarrow from ever looking for real AWS
    ones; every client in the tests is given this endpoint explicitly.
    """
    from moto.server import ThreadedMotoServer

    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
    )
    os.environ.pop("AWS_PROFILE", None)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved)
