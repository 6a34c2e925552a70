"""A streaming-replication hot standby of the managed cluster, on this machine.

``gridgov db start --replica`` makes one in ``var/pg-replica`` (for tests and demos: a real
deployment points ``GRIDGOV_REPLICA_URL`` at a standby on another machine). It is PostgreSQL's
own physical replication: ``pg_basebackup -R`` copies the running primary and writes the
standby's ``primary_conninfo``, and from then on the standby replays the primary's WAL as it
streams in, read-only (``hot_standby``, on by default) and a moment behind. It has the
primary's roles and passwords (they are part of what it replays), so its URLs are the primary's
with its own port.

On the primary this needs (``Cluster``'s ``prepare_replication``, repeated harmlessly):

- ``wal_level`` ``replica`` and ``max_wal_senders`` > 0: PostgreSQL 15's defaults, which the
  managed cluster's initdb keeps;
- a login role allowed to replicate and nothing else (``REPLICATION_ROLE``), its password
  kept with the others (var/pg-passwords.json), and a ``replication`` line for it in
  pg_hba.conf, which the ``all`` lines do not cover;
- a replication slot per standby, so the primary keeps the WAL a stopped standby has not
  received yet, up to ``max_slot_wal_keep_size`` (``SLOT_WAL_KEEP``): a standby stopped for
  longer loses its slot rather than fill the primary's disk, and must be made again
  (``gridgov db stop``, delete ``var/pg-replica``, ``gridgov db start --replica``).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import psycopg
from psycopg import sql

from db.cluster import Cluster, ClusterError, _set_password
from db.passwords import load_passwords, new_password, save_passwords

REPLICATION_ROLE = "gridgov_replication"
REPLICATION_HBA = f"host    replication {REPLICATION_ROLE} 127.0.0.1/32  scram-sha-256"
SLOT_WAL_KEEP = "1GB"
# On the standby: tell the primary which rows its queries still see, so that vacuum there does
# not remove them and replaying the removal cancel a long read here (a hot-spot computation
# over a town's year of cases takes seconds).
STANDBY_SETTINGS = ["hot_standby = on", "hot_standby_feedback = on"]


class Standby(Cluster):
    """A hot standby of ``primary`` kept under ``root`` (normally ``var/pg-replica``)."""

    start_command = "gridgov db start --replica"

    def __init__(self, root: Path, primary: Cluster):
        super().__init__(root, durable=primary.durable, dbname=primary.dbname)
        self.primary = primary

    @property
    def passwords_file(self) -> Path:
        """The primary's: the standby replays its roles and their passwords."""
        return self.primary.passwords_file

    @property
    def slot(self) -> str:
        """This standby's replication slot on the primary (named after its directory, so two
        standbys of one primary, as in the tests, never share one)."""
        return "gridgov_" + hashlib.sha1(str(self.root).encode()).hexdigest()[:12]

    def init(self) -> None:
        """Copy the running primary with ``pg_basebackup -R`` (the standby's data and its
        ``standby.signal`` and ``primary_conninfo``)."""
        if not self.primary.running():
            raise ClusterError(f"the primary in {self.primary.root} is not running: run `gridgov db start` first")
        password = prepare_replication(self.primary, self.slot)
        self._prepare_root()
        # The password through a passfile only the server's user reads, not the command line
        # (which every user of the machine sees). -R names that file in primary_conninfo, which
        # _point_at_primary then rewrites with the password itself.
        passfile = self.root.resolve() / ".basebackup-pgpass"
        self._write_server_file(passfile, f"127.0.0.1:{self.primary.port}:*:{REPLICATION_ROLE}:{password}\n")
        source = f"host=127.0.0.1 port={self.primary.port} user={REPLICATION_ROLE} passfile={passfile}"
        try:
            for _ in range(50):
                found = self._pg(
                    "pg_basebackup", "-D", str(self.data_dir), "-d", source, "-R", "-X", "stream",
                    "-C", "-S", self.slot, "--checkpoint=fast", check=False,
                )
                # the primary reloads pg_hba.conf in the background: until it has, the new
                # replication line is not in force yet
                if found.returncode == 0 or "pg_hba.conf" not in found.stderr:
                    break
                time.sleep(0.1)
            if found.returncode != 0:
                raise ClusterError(f"pg_basebackup failed ({found.returncode}): {found.stderr.strip()}")
        finally:
            passfile.unlink(missing_ok=True)
        conf = self.data_dir / "postgresql.auto.conf"
        self._write_server_file(conf, conf.read_text() + "\n".join(STANDBY_SETTINGS) + "\n")
        self._point_at_primary()

    def _point_at_primary(self) -> None:
        """Write the standby's ``primary_conninfo`` for the primary's port now (a primary whose
        port was taken while it was stopped starts on another) and the replication password,
        in postgresql.auto.conf (mode 0600, the server user's)."""
        password = load_passwords(self.passwords_file)[REPLICATION_ROLE]
        conf = self._conf()
        kept = [line for line in conf.read_text().splitlines() if not line.startswith("primary_conninfo")]
        conninfo = (f"host=127.0.0.1 port={self.primary.port} user={REPLICATION_ROLE} "
                    f"password={password} application_name={self.slot}")
        self._write_server_file(conf, "\n".join([*kept, f"primary_conninfo = '{conninfo}'"]) + "\n")

    def start(self) -> bool:
        """Start the standby (made first when missing); False when it was already running."""
        if not self.primary.running():
            raise ClusterError(f"the primary in {self.primary.root} is not running: run `gridgov db start` first")
        if self.initialised() and f"port={self.primary.port} " not in self._conf().read_text():
            self._point_at_primary()  # the primary came back on another port
            if self.running():
                self._pg("pg_ctl", "reload", "-D", str(self.data_dir))  # primary_conninfo reloads
        return super().start()

    def _conf(self) -> Path:
        return self.data_dir / "postgresql.auto.conf"

    def replication(self) -> dict:
        """Where replay stands: ``receive_lsn``, ``replay_lsn`` and ``replay_lag_bytes`` behind
        what it has received (None when not running)."""
        if not self.running():
            return {"receive_lsn": None, "replay_lsn": None, "replay_lag_bytes": None}
        with self._admin("postgres") as conn:
            receive, replay, lag = conn.execute(
                "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
                "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint"
            ).fetchone()
        return {"receive_lsn": receive, "replay_lsn": replay, "replay_lag_bytes": lag}

    def destroy(self) -> None:
        """Stop the standby, delete its data and drop its slot on the primary (so the primary
        keeps no WAL for it). The passwords stay: they are the primary's."""
        self.stop()
        target = self.root.resolve()
        shutil.rmtree(target, ignore_errors=True)
        if self.root.is_symlink():
            self.root.unlink()
        if self.primary.running():
            with self.primary._admin("postgres") as conn:
                _drop_slot(conn, self.slot)


def prepare_replication(primary: Cluster, slot: str) -> str:
    """Make the running ``primary`` ready to stream to a new standby using ``slot``; returns the
    replication role's password. Safe to repeat."""
    passwords = load_passwords(primary.passwords_file) or {}
    if REPLICATION_ROLE not in passwords:
        passwords[REPLICATION_ROLE] = new_password()
        save_passwords(primary.passwords_file, passwords)
    password = passwords[REPLICATION_ROLE]
    with primary._admin("postgres") as conn:
        wal_level = conn.execute("SHOW wal_level").fetchone()[0]
        senders = int(conn.execute("SHOW max_wal_senders").fetchone()[0])
        if wal_level == "minimal" or senders == 0:
            raise ClusterError(
                f"the primary has wal_level={wal_level} and max_wal_senders={senders}: a standby needs "
                "wal_level=replica and max_wal_senders>0 (ALTER SYSTEM, then restart it)")
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (REPLICATION_ROLE,)).fetchone()
        conn.execute(sql.SQL("{} ROLE {} LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
            sql.SQL("ALTER" if exists else "CREATE"), sql.Identifier(REPLICATION_ROLE)))
        _set_password(conn, REPLICATION_ROLE, password)
        if conn.execute("SHOW max_slot_wal_keep_size").fetchone()[0] == "-1":
            conn.execute(sql.SQL("ALTER SYSTEM SET max_slot_wal_keep_size = {}").format(sql.Literal(SLOT_WAL_KEEP)))
        hba = primary.data_dir / "pg_hba.conf"
        text = hba.read_text()
        if REPLICATION_HBA not in text:
            primary._write_server_file(hba, text.rstrip("\n") + "\n" + REPLICATION_HBA + "\n")
        conn.execute("SELECT pg_reload_conf()")
        # a slot left by a standby whose data are gone (it is about to be made again)
        _drop_slot(conn, slot)
    return password


def _drop_slot(conn: psycopg.Connection, slot: str) -> None:
    conn.execute(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
        "WHERE slot_name = %s AND NOT active", (slot,))

