"""Fixtures shared by schemahub-core's tests; helpers live in schemahub_core_testkit."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from schemahub_core.testing import moto_server

# pytest runs with --import-mode=importlib (no test folder on sys.path): make the helper
# module of this folder importable by the test modules.
sys.path.insert(0, str(Path(__file__).parent))

from schemahub_core_testkit import ScriptedServer


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (S3, CloudWatch) on 127.0.0.1 with dummy credentials; yields its URL."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted HTTP server on 127.0.0.1, fresh for each test."""
    srv = ScriptedServer()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
