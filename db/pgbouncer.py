"""PgBouncer in transaction mode in front of a managed cluster: ``gridgov db start --pgbouncer``.

Why: each gunicorn worker keeps its own pool of server connections (5 + 10 overflow), and a
PostgreSQL connection is a process. Through PgBouncer in transaction mode, a server connection
is lent to a client only for the length of one transaction, so many workers, on many machines,
share a few server connections.

Transaction pooling changes what a client may rely on between two transactions (a different
server connection may serve each), so gridgov keeps two things off it (db/session.py
``pgbouncer_url``): prepared statements (psycopg's ``prepare_threshold=None`` on the pooled
engine) and LISTEN (the live listener and the background worker connect directly). Session
settings are made by PgBouncer on each server connection it opens (``connect_query``), since it
refuses them as startup options. Everything else gridgov runs fits in single transactions:
locks are ``pg_advisory_xact_lock``, settings ``SET LOCAL``.

The files live in ``var/pgbouncer`` (``pgbouncer.ini``, ``userlist.txt``, its pid and log),
owned by the servers' unprivileged user when we are root (PgBouncer refuses to run as root).
It listens on 127.0.0.1 on a port of its own and asks every client for a password (SCRAM).
``userlist.txt`` holds the app role's SCRAM verifier as the server stores it, not its password:
PgBouncer checks the client's proof with it and passes the same proof on to PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from db.cluster import APP_ROLE, Cluster, ClusterError, _port_is_free, free_port, prepare_server_dir, server_user

POOL_SIZE = 20  # server connections per database and role
MAX_CLIENTS = 2000


class PgBouncer:
    """A PgBouncer process kept under ``root`` (normally ``var/pgbouncer``) in front of ``cluster``."""

    def __init__(self, root: Path, cluster: Cluster):
        self.root = Path(root).absolute()
        self.cluster = cluster

    @property
    def dir(self) -> Path:
        return self.root.resolve()

    @property
    def pid_file(self) -> Path:
        return self.dir / "pgbouncer.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "pgbouncer.log"

    @property
    def port(self) -> int | None:
        try:
            return int((self.dir / "port").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def url(self, dbname: str | None = None) -> str:
        """The application's URL through PgBouncer (role ``gridgov``, with its password)."""
        port = self.port
        if port is None:
            raise ClusterError(f"PgBouncer in {self.root} has never been started: run `gridgov db start --pgbouncer`")
        direct = self.cluster.url(dbname)
        return direct.replace(f"@127.0.0.1:{self.cluster.port}/", f"@127.0.0.1:{port}/")

    def pid(self) -> int | None:
        """The running PgBouncer's process id, None when it is not running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # alive, another user's: ours runs as the server user
            pass
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> bool:
        """Start PgBouncer in front of the running cluster; False when it was already running
        with the app role's verifier as the server keeps it now.

        PgBouncer can pass a client's proof on only with the verifier the server has: when the
        role's password was set again since (a new salt), a running PgBouncer is restarted
        (reloading is not enough: it keeps the keys it derived from the old verifier).
        """
        if not self.cluster.running():
            raise ClusterError(f"the cluster in {self.cluster.root} is not running: run `gridgov db start` first")
        with self.cluster._admin("postgres") as conn:
            # the verifier as the server keeps it: PgBouncer passes the client's proof on
            verifier = conn.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (APP_ROLE,)).fetchone()[0]
        userlist = f'"{APP_ROLE}" "{verifier}"\n'
        if self.running():
            try:
                if (self.dir / "userlist.txt").read_text() == userlist:
                    return False
            except FileNotFoundError:
                pass
            self.stop()
        prepare_server_dir(self.root)
        self.cluster._write_server_file(self.dir / "userlist.txt", userlist)
        port = self.port
        if port is None or not _port_is_free(port):
            port = free_port()
            (self.dir / "port").write_text(f"{port}\n")
        self.cluster._write_server_file(self.dir / "pgbouncer.ini", self._config(port))
        self.pid_file.unlink(missing_ok=True)
        argv = ["/usr/sbin/pgbouncer", "-d", str(self.dir / "pgbouncer.ini")]
        user = server_user()
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ClusterError(f"pgbouncer failed ({proc.returncode}): {proc.stderr.strip() or self._log_tail()}")
        self._wait_ready(port)
        return True

    def _config(self, port: int) -> str:
        from db.session import SERVER_OPTIONS

        settings = "; ".join(f"SET {option.replace('=', ' = ')}" for option in _options(SERVER_OPTIONS))
        return f"""; written by gridgov (db/pgbouncer.py) at every start: edits are lost
[databases]
* = host=127.0.0.1 port={self.cluster.port} connect_query='{settings}'

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {self.dir / "userlist.txt"}
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = {MAX_CLIENTS}
pidfile = {self.pid_file}
logfile = {self.log_file}
log_connections = 0
log_disconnections = 0
; the application's role may read SHOW STATS and SHOW POOLS on the database "pgbouncer"
stats_users = {APP_ROLE}
"""

    def _wait_ready(self, port: int, timeout_s: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.url().replace("postgresql+psycopg://", "postgresql://"),
                                     connect_timeout=5, prepare_threshold=None) as conn:
                    conn.execute("SELECT 1")
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ClusterError(f"PgBouncer did not accept connections on port {port}: {exc}; "
                                       f"{self._log_tail()}") from exc
                time.sleep(0.2)

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text()[-1000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> bool:
        """Stop PgBouncer; False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)  # its immediate shutdown: gridgov holds no long transaction
        deadline = time.monotonic() + 30
        while self.pid() is not None:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def destroy(self) -> None:
        """Stop PgBouncer and delete its files (`make clean-db`)."""
        self.stop()
        shutil.rmtree(self.root.resolve(), ignore_errors=True)
        if self.root.is_symlink():
            self.root.unlink()


def _options(server_options: str) -> list[str]:
    """``"-c a=1 -c b=2"`` as ``["a=1", "b=2"]``."""
    return [part for part in server_options.split() if part != "-c"]
