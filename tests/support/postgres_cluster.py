"""A throwaway PostgreSQL cluster for the test suite: initdb and pg_ctl in a temporary directory."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries or the postgres user are missing; the message says which."""


def _find_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise PostgresUnavailable(f"`{name}` is not on PATH nor under /usr/lib/postgresql/*/bin")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresCluster:
    directory: Path
    port: int
    run_as: str | None

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _command(self, *argv: str) -> list[str]:
        # PostgreSQL refuses to run as root, so as root the cluster belongs to the postgres user.
        return ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else list(argv)

    @classmethod
    def start(cls) -> PostgresCluster:
        initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
        run_as = None
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError as error:
                raise PostgresUnavailable(
                    "running as root and there is no `postgres` user to own the cluster"
                ) from error
            run_as = "postgres"
        directory = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        if run_as:
            os.chown(directory, account.pw_uid, account.pw_gid)
        cluster = cls(directory=directory, port=_free_port(), run_as=run_as)
        data = directory / "data"
        cluster._run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-p {cluster.port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        cluster._run(pg_ctl, "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w", "start")
        cluster._pg_ctl = pg_ctl
        return cluster

    def _run(self, *argv: str) -> None:
        result = subprocess.run(self._command(*argv), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresUnavailable(f"{Path(argv[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}")

    def stop(self) -> None:
        try:
            self._run(self._pg_ctl, "-D", str(self.directory / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    _pg_ctl: str = ""
