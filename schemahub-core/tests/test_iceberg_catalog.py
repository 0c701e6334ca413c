"""Opening the local SQLite catalog: processes that open a new one at the same moment.

Cost: ~3 s (forked processes on a few fresh catalog files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from schemahub_core import iceberg as catalogs
from schemahub_core.testing import run_at_once


def _open(barrier: Any, properties: dict[str, str]) -> None:
    barrier.wait()  # every process reaches the catalog's create-if-absent at once
    catalogs.load_catalog(properties).list_namespaces()


def test_processes_opening_a_new_catalog_at_once_all_succeed(tmp_path: Path):
    # pyiceberg's SqlCatalog creates its tables when they are absent: check, then CREATE
    # TABLE. Writers started together (shards of one backfill) race there; the loser must
    # open the catalog the winner created, not fail with "table ... already exists".
    import pyiceberg.catalog.sql  # noqa: F401  (imported before the fork: the race is not diluted)

    codes = []
    for round_ in range(5):
        uri = f"sqlite:///{tmp_path / str(round_) / catalogs.CATALOG_FILE}"
        properties = {"type": "sql", "uri": uri, "warehouse": f"file://{tmp_path / 'wh'}"}
        codes += run_at_once(_open, properties, processes=8)
    assert codes == [0] * 40


def test_a_catalog_that_cannot_be_opened_fails_at_once(tmp_path: Path):
    # Only a lost creation race is run again: any other failure is raised on the first try.
    calls = []

    def unopenable() -> None:
        calls.append(1)
        raise OSError("unable to open database file")

    with pytest.raises(OSError, match="unable to open"):
        catalogs.create_racing(unopenable)
    assert calls == [1]
