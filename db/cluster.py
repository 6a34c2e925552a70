"""The managed local PostGIS cluster: gridgov's embedded default.

With ``GRIDGOV_DATABASE_URL`` unset, gridgov runs its own PostgreSQL + PostGIS cluster in
``var/pg/`` on a free port on 127.0.0.1, so a new user needs nothing but the packages.
PostgreSQL refuses to run as root, so when we are root the server runs as an unprivileged
system user (``postgres`` when the Debian package created it, else ``gridgov``).

The server listens on 127.0.0.1 only (no Unix socket, whose path length limit a deep checkout
would exceed), and every connection needs a password (SCRAM-SHA-256): other users of the
machine reach the port too. Two roles: ``postgres``, the superuser, which creates databases and
the PostGIS extension (not a trusted extension: only a superuser may create it), and
``gridgov``, what gridgov itself connects as, which owns the ``gridgov`` database and its
schema and may do nothing else (no superuser, no new databases or roles). Their passwords are
generated at ``initdb`` and kept in ``var/pg-passwords.json`` (see db/passwords.py);
``gridgov db url`` prints the application's URL with its password, ``--admin`` the
superuser's. A cluster made before passwords (trust, one superuser named ``gridgov``) is
upgraded in place by the next ``gridgov db start`` (see ``Cluster._secure_legacy``).

It is a single-machine development and demo cluster. Point ``GRIDGOV_DATABASE_URL`` at a real
server for anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from db.passwords import load_passwords, new_password, save_passwords

DB_NAME = "gridgov"
ADMIN_ROLE = "postgres"  # the superuser
APP_ROLE = "gridgov"  # the application: owns its database, nothing more
# Before passwords, the only role: the bootstrap superuser, trusted from anywhere on the machine.
LEGACY_SUPERUSER = "gridgov"
# A superuser that lives only while a legacy cluster is upgraded (see Cluster._secure_legacy).
_UPGRADE_ROLE = "gridgov_upgrade"
# The app role's attributes, stated in full each time so a role left otherwise is put right.
_APP_ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"

# The first line tells a cluster that needs passwords from one made before them.
_HBA_MARKER = "# gridgov: every connection needs a password"
PG_HBA = f"""{_HBA_MARKER} (SCRAM-SHA-256), written by db/cluster.py
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
"""


def shared_buffers_mb() -> int:
    """A quarter of the machine's memory in MB, within 128 MB and 8 GB."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(128, min(8192, total // 4 // 2**20))


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


def pg_tool(tool: str) -> Path:
    """A PostgreSQL program (pg_dump, pg_restore, psql, …) from the binaries the managed
    cluster runs on, so a dump is read by the same major version that wrote it."""
    path = _pg_bindir() / tool
    if not path.exists():
        raise ClusterError(f"{path} does not exist: install the PostgreSQL client programs "
                           "(postgresql-15) or set GRIDGOV_PG_BINDIR")
    return path


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


def server_user() -> str | None:
    """The user our servers (PostgreSQL, PgBouncer) run as: None for ourselves, else the system
    user ``postgres`` (or ``gridgov``, created when missing) when we are root, which both refuse."""
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


def prepare_server_dir(root: Path) -> None:
    """Create ``root`` so that the server's user can write it.

    When that user cannot reach a directory under this checkout (a home directory with
    mode 700, say), the files live in /var/lib/gridgov/<hash> and ``root`` links there.
    """
    user = server_user()
    if root.is_symlink():
        return
    root.parent.mkdir(parents=True, exist_ok=True)
    if user is None:
        root.mkdir(parents=True, exist_ok=True)
        return
    root.mkdir(parents=True, exist_ok=True)
    shutil.chown(root, user=user)
    reachable = subprocess.run(["runuser", "-u", user, "--", "test", "-w", str(root)]).returncode == 0
    if not reachable:
        root.rmdir()
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
        target = Path("/var/lib/gridgov") / digest
        target.mkdir(parents=True, exist_ok=True)
        shutil.chown(target, user=user)
        root.symlink_to(target, target_is_directory=True)


@dataclass
class ClusterStatus:
    running: bool
    initialised: bool
    port: int | None
    data_dir: Path
    url: str | None  # the application's URL, its password hidden (``gridgov db url`` shows it)


class Cluster:
    """A PostgreSQL cluster kept under ``root`` (normally ``var/pg``)."""

    start_command = "gridgov db start"  # named in messages

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
    def passwords_file(self) -> Path:
        """Beside ``root``, not in it: ours alone, never the server user's (db/passwords.py)."""
        return self.root.with_name(f"{self.root.name}-passwords.json")

    @property
    def port(self) -> int | None:
        try:
            return int(self.port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _password(self, role: str) -> str:
        try:
            passwords = load_passwords(self.passwords_file)
        except (OSError, ValueError) as exc:
            raise ClusterError(f"cannot read the cluster's passwords: {exc}") from exc
        if passwords is None:
            if self.initialised() and not self._hba_secured():
                raise ClusterError(f"the cluster in {self.root} predates passwords: run `gridgov db start` to upgrade it")
            raise ClusterError(
                f"{self.passwords_file} is missing, so nothing can log in to the cluster in {self.root}: "
                f"restore the file, or delete {self.root} (its data too) and run `gridgov db start`"
            )
        if role not in passwords:
            raise ClusterError(f"{self.passwords_file} has no password for role {role!r}")
        return passwords[role]

    def _url(self, role: str, dbname: str) -> str:
        port = self.port
        if port is None:
            raise ClusterError(f"the cluster in {self.root} has never been started: run `{self.start_command}`")
        return f"postgresql+psycopg://{role}:{self._password(role)}@127.0.0.1:{port}/{dbname}"

    def url(self, dbname: str | None = None) -> str:
        """The application's URL (role ``gridgov``, with its password)."""
        return self._url(APP_ROLE, dbname or self.dbname)

    def admin_url(self, dbname: str | None = None) -> str:
        """The superuser's URL (role ``postgres``, with its password): databases, extensions."""
        return self._url(ADMIN_ROLE, dbname or self.dbname)

    # -- running as an unprivileged user -------------------------------------------------
    def _run_user(self) -> str | None:
        """The user the server runs as: None for ourselves, else a system user name."""
        return server_user()

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

    def _write_server_file(self, path: Path, text: str) -> None:
        """Write a file the server reads (mode 0600), owned by the server's user."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        user = self._run_user()
        if user:
            shutil.chown(path, user=user)

    def _prepare_root(self) -> None:
        """Create ``root`` so that the server's user can write it (see prepare_server_dir)."""
        if self.root.is_symlink() or (self.root / "data").exists():
            return
        prepare_server_dir(self.root)

    # -- lifecycle ------------------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialised():
            return False
        return self._pg("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def status(self) -> ClusterStatus:
        from sqlalchemy.engine import make_url

        running = self.running()
        url = None
        if running:
            try:
                url = make_url(self.url()).render_as_string(hide_password=True)
            except ClusterError:  # a legacy cluster not upgraded yet, or its passwords lost
                url = None
        return ClusterStatus(
            running=running, initialised=self.initialised(), port=self.port, data_dir=self.data_dir, url=url
        )

    def init(self) -> None:
        """``initdb``: a new cluster whose superuser has a new password (the app role comes at start)."""
        self._prepare_root()
        passwords = {ADMIN_ROLE: new_password(), APP_ROLE: new_password()}
        save_passwords(self.passwords_file, passwords)
        # initdb reads the superuser's password from a file, as the server's user: one only that
        # user can read, deleted as soon as initdb has it.
        pwfile = self.root.resolve() / ".initdb-password"
        pwfile.unlink(missing_ok=True)
        self._write_server_file(pwfile, passwords[ADMIN_ROLE] + "\n")
        try:
            self._pg(
                "initdb", "-D", str(self.data_dir), "-U", ADMIN_ROLE, f"--pwfile={pwfile}",
                "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_server_file(self.data_dir / "pg_hba.conf", PG_HBA)
        self._apply_settings()

    def settings(self) -> dict[str, str]:
        """The server's settings that gridgov manages (``_apply_settings`` writes them)."""
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": "''",
            "password_encryption": "'scram-sha-256'",
            "shared_buffers": "256MB",
            "work_mem": "32MB",
            "maintenance_work_mem": "256MB",
            "max_connections": "100",
            "logging_collector": "off",
        }
        if self.durable:
            # A quarter of the machine's memory, PostgreSQL's own advice for a dedicated server,
            # within 128 MB and 8 GB. The 256 MB of the test clusters held a tenth of a town
            # with 1,000,000 cases (its cases and their indexes, about 1 GB): a publish re-routing
            # 57,000 of them evicted, and wrote out itself, 110,000 dirty pages, and took 16 s
            # where it takes 12 s with the table in memory (bench/publish_bench.py, issue 11).
            settings["shared_buffers"] = f"{shared_buffers_mb()}MB"
            # Autovacuum visits each database every 10 s rather than every minute. A month's
            # partition that fills fast (the first day of a month, the first minutes after the
            # demo's load) is analyzed again soon after it passes its threshold, and the plans
            # made while it was nearly empty (the intake's insert, migration 0071) are made again
            # from its size: until then they may read the whole day's cases with every report.
            settings["autovacuum_naptime"] = "10s"
        else:
            # Test clusters trade crash safety for speed; they are thrown away anyway.
            settings.update({"fsync": "off", "synchronous_commit": "off",
                             "full_page_writes": "off"})
        return settings

    def _apply_settings(self) -> None:
        """Write ``settings()`` into postgresql.auto.conf (before the server starts: a cluster
        made by an older checkout gets today's on its next start). The lines of other settings
        (a standby's, one set with ALTER SYSTEM) are kept."""
        conf = self.data_dir / "postgresql.auto.conf"
        settings = self.settings()
        lines = conf.read_text().splitlines() if conf.exists() else []
        kept = [line for line in lines
                if line.partition("=")[0].strip() not in settings]
        wanted = [*kept, *(f"{key} = {value}" for key, value in settings.items())]
        if wanted != lines:
            self._write_server_file(conf, "\n".join(wanted) + "\n")

    def start(self) -> bool:
        """Start the cluster; returns False when it was already running.

        Either way the roles and the database are checked, and a cluster made before passwords
        is upgraded (it may be running, from an older checkout).
        """
        if not self.initialised():
            self.init()
        started = False
        if not self.running():
            self._apply_settings()
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
            started = True
        if not self._hba_secured():
            self._secure_legacy()
        self._wait_ready()
        if self.in_recovery():
            # Recovering (point-in-time recovery, docs/backup.md) or a standby: read-only until
            # promoted, and the roles and the database come with the WAL it replays.
            return started
        with self._admin("postgres") as conn:
            _ensure_app_role(conn, self._password(APP_ROLE))
        self.create_database(self.dbname)
        return started

    def in_recovery(self) -> bool:
        """Whether the running server is still replaying WAL (recovery, or a standby)."""
        with self._admin("postgres") as conn:
            return bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])

    def _admin(self, dbname: str) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=ADMIN_ROLE, password=self._password(ADMIN_ROLE),
            dbname=dbname, autocommit=True,
        )

    def _wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self._admin("postgres"):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ClusterError(f"the server did not accept connections on port {self.port}: {exc}") from exc
                time.sleep(0.2)

    # -- the upgrade of a cluster made before passwords -----------------------------------
    def _hba_secured(self) -> bool:
        try:
            return (self.data_dir / "pg_hba.conf").read_text().startswith(_HBA_MARKER)
        except FileNotFoundError:
            return False

    def _trusting(self, role: str, dbname: str = "postgres") -> psycopg.Connection:
        # only while pg_hba.conf still says trust, i.e. before _secure_legacy has finished
        return psycopg.connect(host="127.0.0.1", port=self.port, user=role, dbname=dbname, autocommit=True)

    def _secure_legacy(self) -> None:
        """Upgrade, in place and running, a cluster made before passwords.

        Such a cluster trusts every local connection, and its only role is the bootstrap
        superuser, named ``gridgov``, which owns the databases. The app role must be called
        ``gridgov`` and be no superuser, but the bootstrap superuser can neither lose that
        right (PostgreSQL 16+) nor hand its objects over with REASSIGN OWNED. So: a temporary
        superuser renames it ``postgres``, then a new ``gridgov`` role receives each database
        and each of its objects, and only then does pg_hba.conf ask for passwords. Every step
        is safe to repeat, should one fail half-way.
        """
        passwords = load_passwords(self.passwords_file)
        if passwords is None:
            passwords = {ADMIN_ROLE: new_password(), APP_ROLE: new_password()}
            save_passwords(self.passwords_file, passwords)
        try:
            self._trusting(ADMIN_ROLE).close()
        except psycopg.OperationalError:  # role "postgres" does not exist: rename the old superuser
            with self._trusting(LEGACY_SUPERUSER) as conn:
                if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (_UPGRADE_ROLE,)).fetchone():
                    conn.execute(sql.SQL("CREATE ROLE {} SUPERUSER LOGIN").format(sql.Identifier(_UPGRADE_ROLE)))
            with self._trusting(_UPGRADE_ROLE) as conn:  # no role may rename itself
                conn.execute(
                    sql.SQL("ALTER ROLE {} RENAME TO {}").format(sql.Identifier(LEGACY_SUPERUSER), sql.Identifier(ADMIN_ROLE))
                )
        with self._trusting(ADMIN_ROLE) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(_UPGRADE_ROLE)))
            _set_password(conn, ADMIN_ROLE, passwords[ADMIN_ROLE])
            _ensure_app_role(conn, passwords[APP_ROLE])
            databases = [row[0] for row in conn.execute(
                "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'"
            )]
            for dbname in databases:
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname), sql.Identifier(APP_ROLE)))
        handover = resources.files("db").joinpath("ownership.sql").read_text(encoding="utf-8")
        for dbname in databases:
            with self._trusting(ADMIN_ROLE, dbname) as conn, conn.transaction():
                statements = conn.execute(handover, {"old": ADMIN_ROLE, "new": APP_ROLE}).fetchall()
                for (statement,) in statements:
                    conn.execute(statement)
        self._write_server_file(self.data_dir / "pg_hba.conf", PG_HBA)
        self._pg("pg_ctl", "reload", "-D", str(self.data_dir))

    # -- databases ------------------------------------------------------------------------
    def create_database(self, dbname: str, template: str | None = None) -> bool:
        """Create ``dbname``, owned by the app role, with PostGIS if it does not exist; True when created.

        The superuser creates the PostGIS extension (only a superuser may); the app role,
        which owns the database and its public schema, creates everything else.
        """
        with self._admin("postgres") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if exists:
                return False
            statement = sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(APP_ROLE))
            if template:
                statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            conn.execute(statement)
        with self._admin(dbname) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return True

    def drop_database(self, dbname: str) -> None:
        with self._admin("postgres") as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))

    def stop(self) -> bool:
        """Stop the cluster; returns False when it was not running."""
        if not self.running():
            return False
        self._pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))
        return True

    def destroy(self) -> None:
        """Stop the cluster and delete its data and passwords (tests, and `make clean-db`)."""
        self.stop()
        target = self.root.resolve()
        shutil.rmtree(target, ignore_errors=True)
        if self.root.is_symlink():
            self.root.unlink()
        self.passwords_file.unlink(missing_ok=True)


def _set_password(conn: psycopg.Connection, role: str, password: str) -> None:
    # only the SCRAM verifier goes to the server (and so never into its log)
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))


def _ensure_app_role(conn: psycopg.Connection, password: str) -> None:
    """Create the app role, or put it right: login with ``password``, no privilege beyond its own."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(
        sql.SQL("{} ROLE {} " + _APP_ROLE_ATTRIBUTES).format(sql.SQL(verb), sql.Identifier(APP_ROLE))
    )
    # Set again only when it does not verify: a new verifier has a new salt, and PgBouncer
    # (db/pgbouncer.py) logs in to the server with the verifier it was given at its start.
    current = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (APP_ROLE,)).fetchone()
    if not _verifies(current[0] if current else None, password):
        _set_password(conn, APP_ROLE, password)


def _verifies(verifier: str | None, password: str) -> bool:
    """Whether a SCRAM-SHA-256 verifier as PostgreSQL keeps it (RFC 5803:
    ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``) is that of ``password``.
    Our passwords are ASCII (db/passwords.py), which SASLprep leaves as they are."""
    try:
        method, salting, keys = (verifier or "").split("$")
        iterations, salt = salting.split(":")
        stored_key = keys.split(":")[0]
        if method != "SCRAM-SHA-256":
            return False
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:  # not a SCRAM verifier (none, md5, …)
        return False
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hmac.compare_digest(base64.b64encode(hashlib.sha256(client_key).digest()).decode(), stored_key)
