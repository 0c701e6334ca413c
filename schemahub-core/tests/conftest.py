"""Fixtures shared by schemahub-core's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from schemahub_core.testing import moto_server


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (S3, CloudWatch) on 127.0.0.1 with dummy credentials; yields its URL."""
    with moto_server() as endpoint:
        yield endpoint
