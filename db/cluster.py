"""The managed local PostGIS cluster: gridgov's embedded default.

With ``GRIDGOV_DATABASE_URL`` unset, gridgov runs its own PostgreSQL + PostGIS cluster in
``var/pg/`` on a free port on 127.0.0.1, so a new user needs nothing but the packages.
PostgreSQL refuses to run as root, so when we are root the server runs as an unprivileged
system user (``postgres`` when the Debian package created it, else ``gridgov``).

Authentication is ``trust`` and the server listens on 127.0.0.1 only (no Unix socket, whose
path length limit a deep checkout would exceed): it is a single-machine development and demo
cluster. Point ``GRIDGOV_DATABASE_URL`` at a real server for anything else.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

DB_NAME = "gridgov"
SUPERUSER = "gridgov"


class ClusterError(RuntimeError):
    """The managed cluster could not be set up, started or stopped."""


def _pg_bindir() -> Path:
    """The newest PostgreSQL server binaries on this machine that have PostGIS beside them."""
    override = os.environ.get("GRIDGOV_PG_BINDIR")
    if override:
        return Path(override)
    candidates = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        version = bindir.parent.name
        if (bindir / "initdb").exists():
            has_postgis = Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists()
            candidates.append((has_postgis, float(version) if version.replace(".", "").isdigit() else 0, bindir))
    found = shutil.which("initdb")
    if found:
        candidates.append((True, 0, Path(found).parent))
    if not candidates:
        raise ClusterError(
            "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH): "
            "run `make run` (it installs postgresql-15-postgis-3) or set GRIDGOV_PG_BINDIR"
        )
    candidates.sort()
    return candidates[-1][2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as the server does: a port left in TIME_WAIT by our own last run is free to reuse
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class ClusterStatus:
    running: bool
    initialised: bool
    port: int | None
    data_dir: Path
    url: str | None


class Cluster:
    """A PostgreSQL cluster kept under ``root`` (normally ``var/pg``)."""

    def __init__(self, root: Path, *, durable: bool = True, dbname: str = DB_NAME):
        self.root = Path(root).absolute()
        self.durable = durable
        self.dbname = dbname

    # -- layout ---------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        # resolved: the server's user may reach the data only through the link (see _prepare_root)
        return self.root.resolve() / "data"

    @property
    def port_file(self) -> Path:
        return self.root.resolve() / "port"

    @property
    def log_file(self) -> Path:
        return self.root.resolve() / "postgres.log"

    @property
    def port(self) -> int | None:
        try:
            return int(self.port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def url(self, dbname: str | None = None) -> str:
        port = self.port
        if port is None:
            raise ClusterError(f"the cluster in {self.root} has never been started: run `gridgov db start`")
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{dbname or self.dbname}"

    # -- running as an unprivileged user -------------------------------------------------
    def _run_user(self) -> str | None:
        """The user the server runs as: None for ourselves, else a system user name."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "gridgov"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "gridgov"],
            check=True,
        )
        return "gridgov"

    def _as_user(self, argv: list[str]) -> list[str]:
        user = self._run_user()
        if user is None:
            return argv
        return ["runuser", "-u", user, "--", *argv]

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = self._as_user([str(_pg_bindir() / tool), *args])
        proc = subprocess.run(argv, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise ClusterError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _prepare_root(self) -> None:
        """Create ``root`` so that the server's user can write it.

        When that user cannot reach a directory under this checkout (a home directory with
        mode 700, say), the data live in /var/lib/gridgov/<hash> and ``root`` links there.
        """
        user = self._run_user()
        if self.root.is_symlink() or (self.root / "data").exists():
            return
        self.root.parent.mkdir(parents=True, exist_ok=True)
        if user is None:
            self.root.mkdir(parents=True, exist_ok=True)
            return
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root, user=user)
        reachable = subprocess.run(["runuser", "-u", user, "--", "test", "-w", str(self.root)]).returncode == 0
        if not reachable:
            self.root.rmdir()
            digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
            target = Path("/var/lib/gridgov") / digest
            target.mkdir(parents=True, exist_ok=True)
            shutil.chown(target, user=user)
            self.root.symlink_to(target, target_is_directory=True)

    # -- lifecycle ------------------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialised():
            return False
        return self._pg("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def status(self) -> ClusterStatus:
        running = self.running()
        return ClusterStatus(
            running=running,
            initialised=self.initialised(),
            port=self.port,
            data_dir=self.data_dir,
            url=self.url() if running else None,
        )

    def init(self) -> None:
        self._prepare_root()
        self._pg(
            "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8",
        )
        settings = [
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",
            "shared_buffers = 256MB",
            "work_mem = 32MB",
            "maintenance_work_mem = 256MB",
            "max_connections = 100",
            "logging_collector = off",
        ]
        if not self.durable:
            # Test clusters trade crash safety for speed; they are thrown away anyway.
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        conf = self.data_dir / "postgresql.auto.conf"
        user = self._run_user()
        text = conf.read_text() if conf.exists() else ""
        conf.write_text(text + "\n".join(settings) + "\n")
        if user:
            shutil.chown(conf, user=user)

    def start(self) -> bool:
        """Start the cluster; returns False when it was already running (a no-op)."""
        if self.running():
            return False
        if not self.initialised():
            self.init()
        port = self.port
        if port is None or not _port_is_free(port):
            port = free_port()
            self.port_file.write_text(f"{port}\n")
        log = self.log_file
        if self._run_user():
            log.touch()
            shutil.chown(log, user=self._run_user())
        self._pg(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(log),
            "-o", f"-p {port}",
        )
        self._wait_ready(port)
        self.create_database(self.dbname)
        return True

    def _wait_ready(self, port: int, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres"):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ClusterError(f"the server did not accept connections on port {port}: {exc}") from exc
                time.sleep(0.2)

    def create_database(self, dbname: str, template: str | None = None) -> bool:
        """Create ``dbname`` with PostGIS if it does not exist; True when it was created."""
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if exists:
                return False
            sql = f'CREATE DATABASE "{dbname}"'
            if template:
                sql += f' TEMPLATE "{template}"'
            conn.execute(sql)
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=dbname, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return True

    def drop_database(self, dbname: str) -> None:
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    def stop(self) -> bool:
        """Stop the cluster; returns False when it was not running."""
        if not self.running():
            return False
        self._pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))
        return True

    def destroy(self) -> None:
        """Stop the cluster and delete its data (tests, and `make clean-db`)."""
        self.stop()
        target = self.root.resolve()
        shutil.rmtree(target, ignore_errors=True)
        if self.root.is_symlink():
            self.root.unlink()
