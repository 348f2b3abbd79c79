"""A throwaway PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary folder.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user (runuser);
anyone else owns it themselves. It listens on 127.0.0.1 at a free port, trusts local connections,
and trades durability for speed (fsync off): it lives for one test session.

WORKBENCH_TEST_PG_URL names a server to use instead (an admin URL that may CREATE DATABASE).
Where no server can be had, `start` says why; tests skip with that reason, except in CI
(WORKBENCH_REQUIRE_POSTGRES=1, set by .ci/run), where they fail.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ADMIN_USER = "workbench"


class NoPostgres(Exception):
    """No PostgreSQL server can be started here; the message says why."""


@dataclass
class Server:
    admin_url: str  # postgresql://user@host:port/postgres
    folder: Path | None = None  # None: a server we did not start
    bindir: Path | None = None
    owner: str | None = None

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = "wb_" + uuid.uuid4().hex[:12]
        self._admin(f'CREATE DATABASE "{name}"')
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def drop_database(self, url: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as con:
            con.execute(sql)

    def stop(self) -> None:
        if self.folder is None:
            return
        _as_owner(self.owner, [str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate",
                               "-w", "stop"], check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> Server:
    """A running server: WORKBENCH_TEST_PG_URL's, or one started here. Raises NoPostgres saying why not."""
    given = os.environ.get("WORKBENCH_TEST_PG_URL")
    if given:
        server = Server(admin_url=given)
        try:
            server._admin("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - the reason is the message
            raise NoPostgres(f"WORKBENCH_TEST_PG_URL={given} does not answer: {exc}") from exc
        return server
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise NoPostgres("psycopg is not installed (pip install 'psycopg[binary]')") from None
    bindir = _bindir()
    owner = _owner()
    folder = Path(tempfile.mkdtemp(prefix="wb-pg-"))
    if owner:
        shutil.chown(folder, user=owner)
    data = folder / "data"
    try:
        _as_owner(owner, [str(bindir / "initdb"), "-D", str(data), "-U", ADMIN_USER, "--auth=trust",
                          "--encoding=UTF8", "--no-sync"])
        port = _free_port()
        options = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder}"
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        _as_owner(owner, [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"),
                          "-w", "-t", "60", "start"])
    except (OSError, subprocess.CalledProcessError) as exc:
        said = (getattr(exc, "stderr", None) or b"").decode(errors="replace")[-800:]
        log = (folder / "log").read_text(errors="replace")[-800:] if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise NoPostgres(f"PostgreSQL did not start ({exc}) {said} {log}".strip()) from exc
    server = Server(admin_url=f"postgresql+psycopg://{ADMIN_USER}@127.0.0.1:{port}/postgres", folder=folder,
                    bindir=bindir, owner=owner)
    deadline = time.monotonic() + 30
    while True:  # pg_ctl -w waits for the socket; a first connection may still race the start-up
        try:
            server._admin("SELECT 1")
            return server
        except Exception:  # noqa: BLE001
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.1)


def _bindir() -> Path:
    """Debian keeps initdb and pg_ctl under /usr/lib/postgresql/VERSION/bin, off the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise NoPostgres("PostgreSQL's server is not installed (Debian: apt-get install postgresql)")


def _owner() -> str | None:
    """PostgreSQL will not run as root: then the cluster is the postgres user's."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise NoPostgres("running as root and there is no postgres user to own the cluster") from None
    if not shutil.which("runuser"):
        raise NoPostgres("running as root and runuser is missing (util-linux)")
    return "postgres"


def _as_owner(owner: str | None, argv: list[str], check: bool = True) -> None:
    command = ["runuser", "-u", owner, "--", *argv] if owner else argv
    subprocess.run(command, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
