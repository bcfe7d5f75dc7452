"""A throwaway PostgreSQL server for the tests, run from Debian's `postgresql` package.

`scripts/install_postgres.sh` installs it. The server runs as the `postgres` system user when the tests run
as root (PostgreSQL refuses to run as root), as the current user otherwise; its data and its unix socket
live in a temporary folder, it listens on 127.0.0.1 only, trusts every local connection, and trades
durability for speed (`fsync=off`): it holds test data only.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

PACKAGE_ROOT = Path("/usr/lib/postgresql")
"""Where Debian installs each PostgreSQL version's binaries (`<version>/bin`)."""
SYSTEM_USER = "postgres"
"""The account the server runs as when the tests run as root."""

DATABASES = itertools.count(1)
"""Numbers the databases `create_database` makes, so each has a name of its own."""


def find_binaries(root: Path = PACKAGE_ROOT) -> Path | None:
    """The `bin` folder of the newest installed version, or None when there is none."""
    found = [path.parent for path in root.glob("*/bin/pg_ctl") if path.parent.parent.name.isdigit()]
    return max(found, key=lambda path: int(path.parent.name), default=None)


class PostgresServer:
    """A server started by `start()` from the binaries in `bin_dir`, removed with its data by `stop()`."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="seslake-postgres-"))
        self.port = 0
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        """The server's own `postgres` database, as its superuser."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{SYSTEM_USER}@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        if self._as_root:
            account = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", SYSTEM_USER, "--auth=trust", "--encoding=UTF8",
                  "--no-locale", "--no-sync")  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        self._run("pg_ctl", "-D", str(data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        try:
            if (self.root / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self._as_root:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=120)
        if done.returncode:
            log = self.root / "server.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr or done.stdout}{detail}")


def create_database(server_url: str) -> str:
    """A new, empty database `ledger_<n>` on the server at `server_url`; returns its URL."""
    name = f"ledger_{next(DATABASES)}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"create database {name}")
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
