"""A real PostgreSQL server for tests: its own cluster in a temporary folder, on a free loopback
port, run as an unprivileged user, stopped when the test session ends.

The server binaries come from ``PG_BIN`` (a folder), else the newest
``/usr/lib/postgresql/<version>/bin`` (Debian's layout), else ``PATH``. PostgreSQL refuses to run
as root: under root the cluster belongs to, and runs as, the ``postgres`` user (Debian's package
creates it), through ``runuser``.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them, e.g. on Debian or Ubuntu "
    "`sudo apt-get install postgresql-15` (or any version >= 13), or point PG_BIN at the folder that holds them."
)


def find_bin() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``, or None."""
    if os.environ.get("PG_BIN"):
        folder = Path(os.environ["PG_BIN"])
        return folder if (folder / "initdb").exists() else None
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One PostgreSQL server; :meth:`database` makes an empty database and returns its URL."""

    SUPERUSER = "demand"

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.log = self.root / "server.log"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, user="postgres", group="postgres")
        self.root.chmod(0o700)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-2000:]}\n{log}")
        return done

    def start(self) -> Cluster:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", self.SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c fsync=on -c synchronous_commit=on -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new empty database's URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    """A started cluster; raises RuntimeError with :data:`INSTALL_HINT` when there is no server."""
    bin_dir = find_bin()
    if bin_dir is None:
        raise RuntimeError(INSTALL_HINT)
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        raise RuntimeError(f"running as root ({getpass.getuser()}) needs runuser to start PostgreSQL as postgres")
    return Cluster(bin_dir).start()
