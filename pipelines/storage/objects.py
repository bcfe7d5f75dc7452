"""Object storage: a local folder laid out like the bucket, or S3 (any endpoint, e.g. moto).

Both behave the same for what seslake needs: paged listing with sizes and arrival times,
whole-object reads, streaming downloads for big objects, and atomic whole-object writes. A read can also
return the object's user metadata (S3's `x-amz-meta-*`, e.g. the encryption metadata of
`pipelines.storage.encryption`) from the same request; a folder's files have none.
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
    def children(self, prefix: str) -> list[str]: ...
    def backdated_since(self, prefix: str, when: datetime) -> bool: ...
    def info(self, key: str) -> ObjectInfo | None: ...
    def get(self, key: str) -> bytes: ...
    def download(self, key: str, path: Path) -> None: ...
    def get_with_metadata(self, key: str) -> tuple[bytes, dict[str, str]]: ...
    def download_with_metadata(self, key: str, path: Path) -> dict[str, str]: ...
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
        root = str(self.root)
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            relative = os.path.relpath(dirpath, root).replace(os.sep, "/")
            folder = "" if relative == "." else relative + "/"
            for name in filenames:
                key = folder + name  # keys are compared before any stat: a ranged listing stats only what it keeps
                if (
                    name.startswith(".")
                    or not key.startswith(prefix)
                    or (start_after is not None and key <= start_after)
                ):
                    continue
                stat = os.stat(os.path.join(dirpath, name))
                found.append(ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        found.sort(key=lambda info: info.key)
        yield from found

    def children(self, prefix: str) -> list[str]:
        """The names one level below the folder `prefix` (which ends in '/'), sorted: S3's common prefixes
        with a '/' delimiter, so a caller walks a partitioned layout without listing every file."""
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not folder.is_dir():
            return []
        return sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith("."))

    def backdated_since(self, prefix: str, when: datetime) -> bool:
        """Whether a file may have appeared under `prefix` at or after `when` with a modification time before
        it: a file copied in with its old time (`cp -p`, `rsync -a`, `shutil.copy2`) keeps that time, but the
        folder it lands in changes, and a folder's status-change time (ctime) cannot be set back as its
        modification time can (`shutil.copytree` copies that too). So: whether any folder at or below
        `prefix`'s folder changed status since `when` (also true when a file arrived normally or was removed:
        a conservative answer, from the folders alone, without a stat of any file)."""
        base, _, _ = prefix.rpartition("/")
        start = self._path(base) if base else self.root
        if not start.is_dir():
            return False
        threshold = when.timestamp()
        pending = [start]
        while pending:
            folder = pending.pop()
            if folder.stat().st_ctime >= threshold:
                return True
            with os.scandir(folder) as entries:
                pending.extend(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))
        return False

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

    def get_with_metadata(self, key: str) -> tuple[bytes, dict[str, str]]:
        """The file's bytes, and no user metadata (a file has none)."""
        return self.get(key), {}

    def download_with_metadata(self, key: str, path: Path) -> dict[str, str]:
        """`download`, and no user metadata (a file has none)."""
        self.download(key, path)
        return {}

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
        """Rename `source` to `target` (atomically, on one file system); False when `source` is gone. The
        source's folders left empty are removed, as a bucket has no empty folders: staged writes moved into
        place leave nothing behind for later listings to walk."""
        path = self._path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        origin = self._path(source)
        try:
            os.replace(origin, path)
        except FileNotFoundError:
            return False
        for folder in origin.parents:
            if folder == self.root or self.root not in folder.parents:
                break
            try:
                folder.rmdir()
            except OSError:  # not empty (or gone): the folders above it are not empty either
                break
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

    def children(self, prefix: str) -> list[str]:
        """The names one level below `prefix` (which ends in '/'), sorted: common prefixes and objects of a
        delimited listing, so a caller walks a partitioned layout without listing every file."""
        paginator = self.client.get_paginator("list_objects_v2")
        names: set[str] = set()
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.base + prefix, Delimiter="/"):
            names.update(
                p["Prefix"][len(self.base) + len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])
            )
            names.update(item["Key"][len(self.base) + len(prefix) :] for item in page.get("Contents", []))
        return sorted(name for name in names if name)

    def backdated_since(self, prefix: str, when: datetime) -> bool:
        """Always False: S3 sets an object's LastModified when it arrives, so nothing that arrives after `when`
        can look older than `when`."""
        return False

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

    def get_with_metadata(self, key: str) -> tuple[bytes, dict[str, str]]:
        """The object's bytes and user metadata (keys without `x-amz-meta-`), from one GET request."""
        response = self.client.get_object(Bucket=self.bucket, Key=self.base + key)
        return response["Body"].read(), response.get("Metadata", {})

    def download_with_metadata(self, key: str, path: Path) -> dict[str, str]:
        """Stream the object to `path` from one GET request, a chunk at a time; its user metadata (keys
        without `x-amz-meta-`)."""
        response = self.client.get_object(Bucket=self.bucket, Key=self.base + key)
        with path.open("wb") as dst:
            for chunk in response["Body"].iter_chunks(1 << 20):
                dst.write(chunk)
        return response.get("Metadata", {})

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
