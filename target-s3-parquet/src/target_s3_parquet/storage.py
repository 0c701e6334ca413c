"""Where the layers are written: a local folder or an S3 bucket, behind one small interface.

Both backends give the guarantees the commit protocol relies on:
- a reader never sees a partial object (temp file + fsync + rename locally; one PUT on S3),
- `put(..., if_absent=True)` creates an object only if the key is free, atomically
  (`link(2)` of a complete temp file locally, `If-None-Match: *` on S3), so two writers
  racing for the same key cannot both win and nothing is overwritten,
- a conditional write that finds its key taken tells its own earlier success (a PUT whose
  response was lost, retried by botocore and answered 412) from another writer's object by
  comparing content, and `publish` never accepts different content at a final key.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemahub_core.fsync import fsync_path, make_dirs_durable
from schemahub_core.paths import parse_output_uri


class StorageError(RuntimeError):
    """A read or write of the output location failed; names the operation and the object."""


def _inside_root(key: str) -> str:
    """`key` itself, refused if it could name something outside the output root.

    The last guard behind `schemahub_core.paths.encode_segment`: every key is built from
    encoded segments, so an empty, `.` or `..` segment here is a bug, never data.
    """
    parts = key.split("/")
    if parts[-1] == "":
        parts.pop()  # a listing prefix ends with "/"
    if any(part in ("", ".", "..") for part in parts) or "\x00" in key:
        raise StorageError(
            f"refusing object key {key!r}: an empty, '.' or '..' segment or a null byte "
            f"could point outside output_uri (a bug: keys are built from encoded names)"
        )
    return key


@dataclass(frozen=True)
class StoredObject:
    """One listed object: its key relative to the output root and its age in epoch seconds."""

    key: str
    modified_at: float


class Storage(ABC):
    """An output location: keys are `/`-separated paths relative to `output_uri`."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """The full location of `key`, for log lines and error messages."""

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        """Write `data` at `key` atomically; with `if_absent`, never over an existing object.

        With `if_absent`, returns True when `key` now holds exactly `data`, also when it held
        it already: that is this same write, whose first attempt succeeded but whose response
        was lost (botocore retried; S3 answered 412). Returns False, writing nothing, when
        `key` holds other content (another writer's).
        """
        if not if_absent:
            return self._store(key, data, if_absent=False)
        for attempt in range(4):
            time.sleep(0.5 * attempt * attempt)
            if self._store(key, data, if_absent=True):
                return True
            existing = self.get(key)
            if existing is not None:
                return existing == data
            # Taken yet unreadable: S3's 409 while a conditional PUT of this key is still in
            # flight (maybe our own lost attempt). Its outcome decides, so ask again.
        raise StorageError(
            f"conditional write of {self.uri(key)} kept conflicting with another write of "
            f"that key in flight (S3 409) and no object appeared. Nothing was deleted: rerun; "
            f"a commit that did land is then finished, otherwise the batch is written again."
        )

    @abstractmethod
    def _store(self, key: str, data: bytes, *, if_absent: bool) -> bool:
        """One atomic write; with `if_absent`, False (nothing written) if the key is taken."""

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The content of `key`, or None if there is no such object."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object exists at `key`."""

    @abstractmethod
    def list(self, prefix: str) -> list[StoredObject]:
        """Every object whose key starts with `prefix` (recursively), in key order."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error."""

    def publish(self, staged_key: str, final_key: str, data: bytes | None = None) -> None:
        """Make the staged object visible at `final_key` with identical content.

        Idempotent: a final object with that content (published by a lost-response attempt
        or by another process rolling the same commit forward) is kept as it is; different
        content there is never overwritten and raises.
        """
        if data is None:
            data = self.get(staged_key)
            if data is None:
                if self.exists(final_key):
                    return  # a staged copy is deleted only after its publish succeeded
                raise StorageError(
                    f"cannot publish {self.uri(final_key)}: its staged copy "
                    f"{self.uri(staged_key)} is gone and it was never published"
                )
        if not self.put(final_key, data, if_absent=True):
            raise self._publish_conflict(staged_key, final_key)

    def _publish_conflict(self, staged_key: str, final_key: str) -> StorageError:
        return StorageError(
            f"cannot publish {self.uri(final_key)}: an object with different content is "
            f"already there and published objects are never overwritten. The committed copy "
            f"is {self.uri(staged_key)}; the object at the final key is not one this target "
            f"wrote: move it away, then run again to publish the committed copy."
        )


class LocalStorage(Storage):
    """A folder on a local (POSIX) file system."""

    def __init__(self, root: str | Path) -> None:
        """Store under the folder `root` (made absolute, so a later chdir does not move it)."""
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        return self.root / _inside_root(key)

    def uri(self, key: str) -> str:
        """The absolute path of `key`."""
        return str(self.root / key)

    def _store(self, key: str, data: bytes, *, if_absent: bool) -> bool:
        """Write a complete temp file (named so no `*.parquet` glob matches it), then rename."""
        path = self._path(key)
        directory = path.parent
        try:
            make_dirs_durable(directory)
            temp = directory / f".tmp-{uuid.uuid4().hex}-{path.name}.partial"
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                if if_absent:
                    # link(2) fails if the name exists: an atomic create-if-absent of a
                    # complete file (O_EXCL would expose an empty file until written).
                    try:
                        os.link(temp, path)
                    except FileExistsError:
                        return False
                else:
                    os.replace(temp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
            fsync_path(directory)
        except OSError as exc:
            raise StorageError(f"writing {path} failed: {exc}") from exc
        return True

    def get(self, key: str) -> bytes | None:
        """Read the whole file, or None if absent."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"reading {self.root / key} failed: {exc}") from exc

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[StoredObject]:
        """Files under the folder part of `prefix` whose relative path starts with `prefix`."""
        base = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        found: list[StoredObject] = []
        if not base.is_dir():
            return found
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".tmp-"):
                    continue  # an in-flight or crashed temp file, never a stored object
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    with contextlib.suppress(FileNotFoundError):
                        found.append(StoredObject(key, path.stat().st_mtime))
        return sorted(found, key=lambda o: o.key)

    def delete(self, key: str) -> None:
        """Unlink the file if present."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    def publish(self, staged_key: str, final_key: str, data: bytes | None = None) -> None:
        """Hard-link the staged file to its final name: atomic, no copy, fails if it exists."""
        final = self._path(final_key)
        try:
            make_dirs_durable(final.parent)
            os.link(self._path(staged_key), final)
            fsync_path(final.parent)
        except FileExistsError:
            if not _same_content(final, self._path(staged_key)):
                raise self._publish_conflict(staged_key, final_key) from None
        except FileNotFoundError as exc:
            if final.is_file():
                return  # published meanwhile by another process, which then removed staging
            raise StorageError(
                f"cannot publish {final}: its staged copy {self.root / staged_key} is gone"
            ) from exc
        except OSError as exc:
            raise StorageError(f"publishing {final} failed: {exc}") from exc

    def sweep_temp_files(self, prefix: str, older_than: float) -> None:
        """Remove `.tmp-*` files of crashed writers (older than `older_than` epoch seconds)."""
        base = self._path(prefix)
        if not base.is_dir():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                path = Path(dirpath) / name
                if name.startswith(".tmp-"):
                    with contextlib.suppress(FileNotFoundError):
                        if path.stat().st_mtime < older_than:
                            path.unlink()


def _same_content(final: Path, staged: Path) -> bool:
    try:
        return final.samefile(staged) or final.read_bytes() == staged.read_bytes()
    except FileNotFoundError:
        return True  # the staged copy was removed meanwhile, which happens only once published


class S3Storage(Storage):
    """An S3 bucket and prefix (AWS or any S3-compatible store via `endpoint_url`)."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        """Store under `s3://bucket/prefix/` with the boto3 S3 `client`."""
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client

    def _key(self, key: str) -> str:
        key = _inside_root(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        """`s3://bucket/prefix/key`."""
        return f"s3://{self.bucket}/{self._key(key)}"

    def _fail(self, operation: str, key: str, exc: Exception) -> StorageError:
        return StorageError(
            f"S3 {operation} of {self.uri(key)} failed: {exc}. Check the bucket, "
            f"s3_endpoint_url, credentials and network; data after the last STATE this target "
            f"printed was not committed and will be written again by a rerun."
        )

    def _store(self, key: str, data: bytes, *, if_absent: bool) -> bool:
        """One PutObject (atomic on S3); `If-None-Match: *` when `if_absent`."""
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if if_absent and (code in ("PreconditionFailed", "ConditionalRequestConflict")):
                return False
            if if_absent and status in (409, 412):
                return False
            raise self._fail("PUT", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("PUT", key, exc) from exc
        return True

    def get(self, key: str) -> bytes | None:
        """GetObject, or None on NoSuchKey."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            body: bytes = response["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._fail("GET", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("GET", key, exc) from exc
        return body

    def exists(self, key: str) -> bool:
        """HeadObject."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail("HEAD", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("HEAD", key, exc) from exc
        return True

    def list(self, prefix: str) -> list[StoredObject]:
        """ListObjectsV2 over every page."""
        from botocore.exceptions import BotoCoreError, ClientError

        strip = len(self.prefix) + 1 if self.prefix else 0
        found: list[StoredObject] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(
                        StoredObject(item["Key"][strip:], item["LastModified"].timestamp())
                    )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("LIST", prefix, exc) from exc
        return found

    def delete(self, key: str) -> None:
        """DeleteObject."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("DELETE", key, exc) from exc


def open_storage(output_uri: str, config: Mapping[str, Any]) -> Storage:
    """The storage for `output_uri` (`s3://bucket/prefix` or a local folder).

    Parsed by `schemahub_core.paths.parse_output_uri`, like `schemahub query` and `check`
    do, so the target writes exactly where they read; it raises OutputUriError for a URI
    they could not read back (query string, `//`, `..`).
    """
    location = parse_output_uri(output_uri)
    if not location.is_s3:
        return LocalStorage(location.folder)
    return S3Storage(location.bucket, location.prefix, s3_client(config))


def s3_client(config: Mapping[str, Any]) -> Any:
    """A boto3 S3 client from the target's AWS settings (the standard chain for unset ones)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=config.get("aws_access_key_id"),
        aws_secret_access_key=config.get("aws_secret_access_key"),
        aws_session_token=config.get("aws_session_token"),
        region_name=config.get("aws_region"),
    )
    return session.client(
        "s3",
        endpoint_url=config.get("s3_endpoint_url"),
        config=Config(
            retries={"max_attempts": 4, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )
