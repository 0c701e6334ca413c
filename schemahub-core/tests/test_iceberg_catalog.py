"""Opening the local SQLite catalog: processes that open a new one at the same moment.

Cost: ~3 s (forked processes on a few fresh catalog files).
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from schemahub_core import iceberg as catalogs

OPENERS = 8
ROUNDS = 5


def _open(properties: dict[str, str], barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait()  # every process reaches the catalog's create-if-absent at once
    catalogs.load_catalog(properties).list_namespaces()


def test_processes_opening_a_new_catalog_at_once_all_succeed(tmp_path: Path):
    # pyiceberg's SqlCatalog creates its tables when they are absent: check, then CREATE
    # TABLE. Writers started together (shards of one backfill) race there; the loser must
    # open the catalog the winner created, not fail with "table ... already exists".
    import pyiceberg.catalog.sql  # noqa: F401  (imported before the fork: the race is not diluted)

    context = multiprocessing.get_context("fork")
    failed: list[int] = []
    for round_ in range(ROUNDS):
        uri = f"sqlite:///{tmp_path / str(round_) / catalogs.CATALOG_FILE}"
        properties = {"type": "sql", "uri": uri, "warehouse": f"file://{tmp_path / 'wh'}"}
        barrier = context.Barrier(OPENERS)
        processes = [
            context.Process(target=_open, args=(properties, barrier)) for _ in range(OPENERS)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        failed += [p.exitcode for p in processes if p.exitcode != 0]
    assert failed == []
