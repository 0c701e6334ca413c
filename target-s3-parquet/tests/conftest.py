"""Fixtures: output locations (local folder, or a bucket on a loopback moto S3 server), and
helpers to run the target as a real subprocess and read the unified table back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from schemahub_core.testing import moto_server
from target_s3_parquet.testing import Output, make_local_output, make_s3_output

# No test may ever reach real AWS: dummy credentials, no config files, no instance metadata,
# and every AWS endpoint pointed at loopback (the moto fixture overrides it with its port).
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, for the whole session."""
    with moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint  # restored to the dead port by moto_server
        yield endpoint


@pytest.fixture
def local_output(tmp_path: Path) -> Output:
    """A fresh local output folder with a Hive-layout table (tests of that layout's files)."""
    return make_local_output(tmp_path / "lake", "hive")


@pytest.fixture
def iceberg_output(tmp_path: Path) -> Output:
    """A fresh local output folder with an Iceberg table in its default SQLite catalog."""
    return make_local_output(tmp_path / "lake", "iceberg")


@pytest.fixture(params=["hive", "iceberg"])
def any_output(request: pytest.FixtureRequest, tmp_path: Path) -> Output:
    """Each test using it runs for both table formats, on a local folder."""
    return make_local_output(tmp_path / "lake", request.param)


def _output(request: pytest.FixtureRequest, tmp_path: Path) -> Output:
    place, table_format = request.param.split("-")
    if place == "local":
        return make_local_output(tmp_path / "lake", table_format)
    return make_s3_output(request.getfixturevalue("moto_endpoint"), table_format, tmp_path)


@pytest.fixture(params=["local-hive", "s3-hive", "local-iceberg", "s3-iceberg"])
def output(request: pytest.FixtureRequest, tmp_path: Path) -> Output:
    """Each test using it runs four times: both formats, on a local folder and on moto S3."""
    return _output(request, tmp_path)


@pytest.fixture(params=["local-hive", "s3-hive", "local-iceberg"])
def racing_output(request: pytest.FixtureRequest, tmp_path: Path) -> Output:
    """`output` without Iceberg on S3: Iceberg's races are decided by the catalog (the same
    SQLite file wherever the warehouse is), so the S3 variant would only repeat local's."""
    return _output(request, tmp_path)


@pytest.fixture(params=["local", "s3"])
def storage_output(request: pytest.FixtureRequest, tmp_path: Path) -> Output:
    """A local folder and a moto bucket, for what does not depend on the table format
    (storage puts, the raw layer)."""
    if request.param == "local":
        return make_local_output(tmp_path / "lake", "hive")
    return make_s3_output(request.getfixturevalue("moto_endpoint"), "hive")
