"""pyiceberg's FileIO with durable local writes: a commit's files are on disk before the catalog.

pyiceberg writes local files without fsync. Every file of an Iceberg commit (data files,
manifests, manifest list, metadata JSON) must be on disk before the catalog points at it: the
target emits the STATE covering a commit right after it, and compaction or rebuild replace
files. `DurableLocalFileIO` is pyiceberg's `PyArrowFileIO` whose local output files, once
closed, are fsynced with their folder, each folder created for them (a new partition) synced
into its parent: the Hive path's guarantee, with its helpers (`schemahub_core.fsync`). Other
schemes (S3) are unchanged: a PUT is durable when it returns.

`iceberg.catalog_properties` selects it for a local warehouse with the catalog property
`py-io-impl`. It is stored nowhere (neither in the metadata JSON nor in the catalog), so a plain
pyiceberg reader needs nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyiceberg.io.pyarrow import PyArrowFileIO, PyArrowLocalFileSystem

from schemahub_core.fsync import fsync_path, make_dirs_durable

if TYPE_CHECKING:
    from types import TracebackType

    from pyarrow.fs import FileSystem


class DurableLocalFileIO(PyArrowFileIO):
    """`PyArrowFileIO` whose local files are fsynced (file and folder) when closed."""

    def _initialize_local_fs(self) -> FileSystem:
        return _DurableLocalFileSystem()


class _DurableLocalFileSystem(PyArrowLocalFileSystem):
    def open_output_stream(self, path: str, *args: Any, **kwargs: Any) -> Any:
        make_dirs_durable(os.path.dirname(path))
        return _SyncOnClose(super().open_output_stream(path, *args, **kwargs), path)


class _SyncOnClose:
    """An output stream that, once closed, is on disk: its data and its folder entry."""

    def __init__(self, stream: pa.NativeFile, path: str) -> None:
        self._stream = stream
        self._path = path

    def write(self, data: Any) -> int:
        return self._stream.write(data)

    def tell(self) -> int:
        return self._stream.tell()

    def flush(self) -> None:
        self._stream.flush()

    @property
    def closed(self) -> bool:
        return self._stream.closed

    def close(self) -> None:
        if self._stream.closed:
            return
        self._stream.close()
        fsync_path(self._path)
        fsync_path(os.path.dirname(self._path))

    def __enter__(self) -> _SyncOnClose:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
