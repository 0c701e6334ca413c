"""A local Iceberg commit's files are on disk (fsynced, with their folders) before the catalog.

Cost: ~2 s (a few small commits on a local SQLite catalog).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from pyiceberg.catalog.sql import SqlCatalog
from schemahub_core import iceberg as catalogs
from schemahub_core.fsync import make_dirs_durable
from schemahub_core.iceberg import DURABLE_FILE_IO
from schemahub_core.iceberg_io import DurableLocalFileIO
from schemahub_core.query import open_iceberg_table
from sqlalchemy import event
from target_s3_parquet.iceberg_table import IcebergUnifiedTable, catalog_properties_for_target
from target_s3_parquet.testing import unified_rows


def _tree(root: Path) -> set[Path]:
    return {Path(folder) / name for folder, dirs, files in os.walk(root) for name in dirs + files}


def test_every_file_and_folder_of_a_commit_is_fsynced_before_the_catalog_commit(
    iceberg_output, monkeypatch
):
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    writer.commit(
        "BINANCE", "BTCUSDT", unified_rows(range(1, 11), "BTCUSDT", minutes_apart=60)
    )  # a parent snapshot
    events: list[tuple[str, str]] = []
    real_fsync = os.fsync

    def spy_fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    monkeypatch.setattr(os, "fsync", spy_fsync)
    event.listen(writer.catalog.engine, "commit", lambda _conn: events.append(("catalog", "")))
    root = Path(writer.table.location().removeprefix("file://"))
    before = _tree(root)

    # A new symbol over two days: new partition folders, data files, manifest(s), manifest
    # list, metadata JSON.
    writer.commit("BINANCE", "ETHUSDT", unified_rows(range(10, 40), "ETHUSDT", minutes_apart=60))

    new = sorted(_tree(root) - before)
    assert ("catalog", "") in events, "the catalog commit was not observed"
    committed_at = events.index(("catalog", ""))
    synced = [path for kind, path in events[:committed_at] if kind == "fsync"]
    names = [path.name for path in new]
    assert sum(name.endswith(".parquet") for name in names) == 2  # one per day
    assert any(name.endswith("-m0.avro") for name in names)  # manifest
    assert any(name.startswith("snap-") for name in names)  # manifest list
    assert any(name.endswith(".metadata.json") for name in names)
    assert sum(path.is_dir() for path in new) >= 3  # symbol=ETHUSDT and two day folders
    for path in new:
        assert str(path) in synced, f"{path} was not fsynced before the catalog commit"
        # Its entry in the folder is durable: the folder is fsynced after the file was.
        assert str(path.parent) in synced[synced.index(str(path)) + 1 :] or path.is_dir(), (
            f"the folder of {path} was not fsynced after it, before the catalog commit"
        )
        if path.is_dir():
            assert str(path.parent) in synced, f"{path.parent} (holds new {path.name}) not synced"


def test_the_file_io_choice_is_stored_nowhere_a_plain_pyiceberg_reader_would_need_it(
    iceberg_output,
):
    assert f"{DurableLocalFileIO.__module__}.{DurableLocalFileIO.__name__}" == DURABLE_FILE_IO
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    writer.commit("BINANCE", "BTCUSDT", unified_rows(range(1, 11), "BTCUSDT", minutes_apart=60))
    assert isinstance(writer.table.io, DurableLocalFileIO)
    # `schemahub compact` / `rebuild` / `expire` open the table as `schemahub query` does.
    assert isinstance(open_iceberg_table(iceberg_output.uri).io, DurableLocalFileIO)

    root = Path(iceberg_output.uri)
    for path in [root / catalogs.CATALOG_FILE, *root.rglob("*.metadata.json")]:
        content = path.read_bytes()
        assert b"py-io-impl" not in content, path
        assert b"iceberg_io" not in content, path
    # The README's snippet: default properties, pyiceberg's own FileIO.
    catalog = SqlCatalog(
        "schemahub", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}"
    )
    table = catalog.load_table("schemahub.trades_unified")
    assert type(table.io).__name__ == "PyArrowFileIO"
    assert table.scan().to_arrow().num_rows == 10


@pytest.mark.parametrize(
    ("output_uri", "catalog", "expected"),
    [
        ("s3://bucket/lake", {"type": "glue"}, None),  # a PUT is durable when it returns
        ("/tmp/lake", None, DURABLE_FILE_IO),
        ("/tmp/lake", {"type": "sql", "uri": "sqlite:///x.db", "py-io-impl": "my.IO"}, "my.IO"),
    ],
)
def test_only_a_local_warehouse_gets_the_durable_file_io_unless_one_is_configured(
    output_uri, catalog, expected
):
    config = {"output_uri": output_uri, "iceberg_catalog": catalog, "aws_region": "us-east-1"}
    assert catalog_properties_for_target(config).get("py-io-impl") == expected


def test_the_sqlite_catalog_commits_durably(iceberg_output):
    """Rollback journal with synchronous=EXTRA: a commit survives a power loss right after it."""
    writer = IcebergUnifiedTable.open(iceberg_output.config, compression="zstd")
    writer.commit("BINANCE", "BTCUSDT", unified_rows(range(1, 3), "BTCUSDT", minutes_apart=60))
    with writer.catalog.engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    assert (journal, synchronous) == ("delete", 3)  # 3: EXTRA
    # Only our connections: the file itself has no setting a plain reader would inherit.
    with sqlite3.connect(Path(iceberg_output.uri) / catalogs.CATALOG_FILE) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_each_folder_created_for_a_file_is_synced_into_its_parent(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def spy_fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))

    monkeypatch.setattr(os, "fsync", spy_fsync)
    make_dirs_durable(tmp_path / "a" / "b" / "c")
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert synced == [str(tmp_path), str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    make_dirs_durable(tmp_path / "a" / "b")  # nothing created: nothing to sync
    assert len(synced) == 3
