"""The lake's Parquet files as local paths for DuckDB: the lake's own folder when it is local, else a mirror
folder of an S3 lake kept beside the warehouse between builds.

The mirror holds files under the lake's keys (`<mirror>/<table>/tenant=…/date=…/<part>.parquet`). A full
build brings a table's whole mirror up to date from one listing (downloading a file that is missing or whose
size or time differs from the bucket's, deleting one the lake no longer has); a refresh brings up to date
only the days that changed (downloading the files the lake's log names as changed and any file of those days
the mirror lacks, deleting the ones those days no longer have), so a refresh downloads in proportion to what
changed. A download goes to a hidden temporary name and is renamed into place, so a file is never half there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from pipelines.storage.lake import Lake
from pipelines.storage.objects import LocalStore, ObjectInfo

PARQUET_SUFFIX = ".parquet"


def mirror_folder(warehouse: Path) -> Path:
    """Where the mirror of an S3 lake lives: a hidden folder beside the warehouse file."""
    return warehouse.with_name(f".{warehouse.name}.lake")


class LakeFiles:
    """Local paths of the lake's Parquet files, downloading (for an S3 lake) only what the mirror lacks."""

    def __init__(self, lake: Lake, mirror: Path) -> None:
        self.lake = lake
        self.is_local = isinstance(lake.store, LocalStore)
        self.root = lake.store.root if isinstance(lake.store, LocalStore) else mirror
        self.fetched: set[str] = set()
        """The keys downloaded from the bucket by this instance (each at most once)."""

    def all_files(self, table: str) -> list[Path]:
        """Every Parquet file of `table`, in key order; the table's mirror is made equal to the lake's."""
        if self.is_local:
            return [self.root / key for key in self.lake.partition_files(table)]
        listed = {info.key: info for info in self.lake.store.list(f"{table}/") if info.key.endswith(PARQUET_SUFFIX)}
        for key, info in listed.items():
            if not self._is_current(key, info):
                self._download(key, info)
        self._remove_except(self.root.glob(f"{table}/*/*/*{PARQUET_SUFFIX}"), set(listed))
        return [self.root / key for key in sorted(listed)]

    def day_files(self, table: str, days: Iterable[date], changed_keys: set[str]) -> list[Path]:
        """The Parquet files of `table` on `days`, in key order; those days of the mirror are made equal to the
        lake's, downloading the files in `changed_keys` (the lake's log since the last build) and the missing."""
        days = sorted(set(days))
        keys = self.lake.partition_files(table, days)
        if not self.is_local:
            for key in keys:
                if key not in self.fetched and (key in changed_keys or not (self.root / key).exists()):
                    self._download(key, self.lake.store.info(key))
            kept = set(keys)
            for day in days:
                self._remove_except(self.root.glob(f"{table}/*/date={day.isoformat()}/*{PARQUET_SUFFIX}"), kept)
            keys = [key for key in keys if (self.root / key).exists()]
        return [self.root / key for key in keys]

    @property
    def downloaded(self) -> int:
        """How many files this instance downloaded."""
        return len(self.fetched)

    def _is_current(self, key: str, info: ObjectInfo) -> bool:
        path = self.root / key
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        return stat.st_size == info.size and stat.st_mtime == info.last_modified.timestamp()

    def _download(self, key: str, info: ObjectInfo | None) -> None:
        """Download `key` whole into the mirror, with the object's time as the file's; a key the bucket no
        longer has (removed since it was listed) is left to the next build."""
        if info is None:
            return
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.part")
        self.lake.store.download(key, partial)
        stamp = info.last_modified.timestamp()
        os.utime(partial, (stamp, stamp))
        os.replace(partial, path)
        self.fetched.add(key)

    def _remove_except(self, paths: Iterable[Path], keep: set[str]) -> None:
        for path in list(paths):
            if path.relative_to(self.root).as_posix() not in keep:
                path.unlink(missing_ok=True)
