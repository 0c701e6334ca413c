"""Where BATCH files are read from (and deleted, if asked): `s3://`, `file://` or a local path.

A BATCH message lists its files as URIs (singer-sdk writes `file:///...` for a local
storage root, `s3://bucket/key` for S3). Local files are read from the file system; S3
objects with boto3 and the target's own AWS settings (`s3_endpoint_url`, keys, region), the
client the output storage uses: no new dependency tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from target_s3_parquet.batch_files import BatchFileError
from target_s3_parquet.storage import s3_client


def batch_file_name(uri: str) -> str:
    """The file name at the end of a batch file URI (percent-decoding a `file://` URI)."""
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    return unquote(name) if uri.startswith("file:") else name


class BatchFileSource:
    """Reads and deletes batch files by URI; the S3 client is built on first use."""

    def __init__(self, config: dict[str, Any]) -> None:
        """`config`: the target's settings (AWS ones for `s3://` URIs)."""
        self._config = config
        self._client: Any = None

    def read(self, stream: str, uri: str) -> bytes:
        """The whole content of the batch file at `uri`; `BatchFileError` naming it if not."""
        location = self._locate(stream, uri)
        if isinstance(location, Path):
            try:
                return location.read_bytes()
            except FileNotFoundError:
                raise BatchFileError(
                    stream, uri, f"no such file ({location}): it was deleted or never written"
                ) from None
            except OSError as exc:
                raise BatchFileError(stream, uri, f"cannot be read: {exc}") from exc
        bucket, key = location
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body: bytes = self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            missing = (
                "no such object: it was deleted or never written"
                if code
                in (
                    "NoSuchKey",
                    "404",
                )
                else f"cannot be read from S3 ({code}: {exc})"
            )
            raise BatchFileError(
                stream, uri, f"{missing}; check the bucket, s3_endpoint_url and credentials"
            ) from exc
        except BotoCoreError as exc:
            raise BatchFileError(
                stream,
                uri,
                f"S3 is unreachable ({exc}); check s3_endpoint_url, credentials and network",
            ) from exc
        return body

    def delete(self, stream: str, uri: str) -> None:
        """Remove the batch file at `uri` (a missing one is not an error)."""
        location = self._locate(stream, uri)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if isinstance(location, Path):
                location.unlink(missing_ok=True)
            else:
                self._s3().delete_object(Bucket=location[0], Key=location[1])
        except (OSError, ClientError, BotoCoreError) as exc:
            raise BatchFileError(stream, uri, f"cannot be deleted: {exc}") from exc

    def _locate(self, stream: str, uri: str) -> Path | tuple[str, str]:
        """A local path, or (bucket, key) for S3."""
        parts = urlsplit(uri)
        if parts.scheme == "s3":
            if not parts.netloc or not parts.path.strip("/"):
                raise BatchFileError(stream, uri, "an s3:// URI needs a bucket and a key")
            return parts.netloc, parts.path.lstrip("/")
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise BatchFileError(stream, uri, "a file:// URI on another host cannot be read")
            return Path(url2pathname(parts.path))
        if parts.scheme == "":
            return Path(uri)
        raise BatchFileError(
            stream,
            uri,
            f"URI scheme {parts.scheme!r} is not supported: batch files are read from "
            f"s3://, file:// or a local path; point the tap's batch_config storage root there",
        )

    def _s3(self) -> Any:
        if self._client is None:
            self._client = s3_client(self._config)
        return self._client
