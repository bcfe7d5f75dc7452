"""Object storage: a local folder laid out like the bucket, or S3 (any endpoint, e.g. moto).

Both behave the same for what seslake needs: paged listing with sizes and arrival times,
whole-object reads, streaming downloads for big objects, and atomic whole-object writes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

LIST_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime
    """When the object arrived (S3 LastModified, file mtime), in UTC."""

    @property
    def day(self) -> date:
        """The UTC day the object arrived: the lake partition it belongs to."""
        return self.last_modified.date()


class ObjectStore(Protocol):
    url: str
    endpoint_url: str | None
    """What `open_store(url, endpoint_url)` needs to open the same store again (e.g. in a worker)."""

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]: ...
    def info(self, key: str) -> ObjectInfo | None: ...
    def get(self, key: str) -> bytes: ...
    def download(self, key: str, path: Path) -> None: ...
    def put(self, key: str, data: bytes) -> None: ...
    def move(self, source: str, target: str) -> bool: ...
    def delete(self, key: str) -> None: ...


class LocalStore:
    """A folder standing in for a bucket; keys are '/'-separated paths below it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.url = str(self.root)
        self.endpoint_url = None

    def _path(self, key: str) -> Path:
        """The file of `key`; a key that would leave the folder (absolute, `..`, empty parts) is refused."""
        parts = key.split("/")
        if "\\" in key or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"object key {key[:200]!r} is not a plain relative key")
        return self.root.joinpath(*parts)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Every file whose key starts with `prefix` (and sorts after `start_after`), in key order (as S3 lists)."""
        base, _, _ = prefix.rpartition("/")
        start = self._path(base) if base else self.root
        if not start.is_dir():
            return
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix) or (start_after is not None and key <= start_after):
                    continue
                stat = path.stat()
                found.append(ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        found.sort(key=lambda info: info.key)
        yield from found

    def info(self, key: str) -> ObjectInfo | None:
        """The object's size and arrival time, or None when there is no such object."""
        try:
            stat = self._path(key).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def download(self, key: str, path: Path) -> None:
        with self._path(key).open("rb") as src, path.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)

    def put(self, key: str, data: bytes) -> None:
        """Write to a temporary file beside the target, then rename: readers never see half a file."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def move(self, source: str, target: str) -> bool:
        """Rename `source` to `target` (atomically, on one file system); False when `source` is gone."""
        path = self._path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self._path(source), path)
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Store:
    """An S3 bucket (optionally below a key prefix); a PUT is atomic, so writes need no rename."""

    def __init__(self, url: str, endpoint_url: str | None = None) -> None:
        import boto3

        bucket, _, base = url.removeprefix("s3://").partition("/")
        self.url = url
        self.endpoint_url = endpoint_url
        self.bucket = bucket
        self.base = base.strip("/") + "/" if base.strip("/") else ""
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        extra = {"StartAfter": self.base + start_after} if start_after is not None else {}
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=self.base + prefix, PaginationConfig={"PageSize": LIST_PAGE_SIZE}, **extra
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield ObjectInfo(
                    key=item["Key"][len(self.base) :],
                    size=item["Size"],
                    last_modified=item["LastModified"].astimezone(UTC),
                )

    def info(self, key: str) -> ObjectInfo | None:
        """The object's size and arrival time from one HEAD request, or None when there is no such object."""
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.base + key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(key, head["ContentLength"], head["LastModified"].astimezone(UTC))

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.base + key)["Body"].read()

    def download(self, key: str, path: Path) -> None:
        self.client.download_file(self.bucket, self.base + key, str(path))

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.base + key, Body=data)

    def move(self, source: str, target: str) -> bool:
        """Copy `source` to `target` inside the bucket, then delete it; False when `source` is gone."""
        from botocore.exceptions import ClientError

        copy = {"Bucket": self.bucket, "Key": self.base + source}
        try:
            self.client.copy_object(Bucket=self.bucket, Key=self.base + target, CopySource=copy)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        self.client.delete_object(Bucket=self.bucket, Key=self.base + source)
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.base + key)


def open_store(url: str, endpoint_url: str | None = None) -> ObjectStore:
    """`s3://bucket[/prefix]` opens S3 (through `endpoint_url` when given); anything else is a folder."""
    if url.startswith("s3://"):
        return S3Store(url, endpoint_url)
    return LocalStore(url)
