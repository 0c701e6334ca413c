"""Local writes made durable: fsync a file or folder, create folders durably (stdlib only).

A new file is on disk only once its data is fsynced and its name too, which is an entry of
its folder: fsync the folder after creating or renaming a name in it, and each folder
created on the way in its parent. Used by the Hive path (`target_s3_parquet.storage`) and the
Iceberg FileIO (`schemahub_core.iceberg_io`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_path(path: str | Path) -> None:
    """Flush a file's data, or a folder's entries, to disk (fsync through a new descriptor)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs_durable(directory: str | Path) -> None:
    """`mkdir -p directory`, each folder it creates made durable in its parent (fsync)."""
    directory = Path(directory)
    missing = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another writer created it meanwhile
            folder.mkdir()
        fsync_path(folder.parent)
