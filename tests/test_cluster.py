"""The managed local PostGIS cluster: start, idempotence, status, url, stop, passwords and
roles, and the upgrade of a cluster made before passwords — a real server."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic import command
from psycopg import errors

from db import migrate
from db.cluster import Cluster, free_port

GRIDGOV = [sys.executable, "-m", "web.cli"]
# no password from the environment or a ~/.pgpass: a connection has only what the test gives it
NO_PASSFILE = {"passfile": "/nonexistent"}


def _gridgov(var_dir: Path, *args: str, umask: int = -1) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GRIDGOV_DATABASE_URL", "PGPASSWORD")}
    env["GRIDGOV_VAR_DIR"] = str(var_dir)
    return subprocess.run([*GRIDGOV, *args], env=env, capture_output=True, text=True, timeout=180, umask=umask)


def _url(var_dir: Path, *args: str) -> str:
    out = _gridgov(var_dir, "db", "url", *args)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def var_dir(tmp_path):
    yield tmp_path / "var"
    Cluster(tmp_path / "var" / "pg").destroy()


def test_db_start_initialises_runs_and_is_idempotent(var_dir):
    first = _gridgov(var_dir, "db", "start")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("started")
    cluster = Cluster(var_dir / "pg")
    assert cluster.initialised() and cluster.running()
    port = cluster.port

    again = _gridgov(var_dir, "db", "start")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("already running")
    assert cluster.port == port

    url = _url(var_dir)
    assert re.fullmatch(rf"postgresql://gridgov:[A-Za-z0-9_-]{{40,}}@127\.0\.0\.1:{port}/gridgov", url), url
    with psycopg.connect(url, **NO_PASSFILE) as conn:
        version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
        assert version.startswith("3")
        if os.geteuid() == 0:  # PostgreSQL refuses root: the server must run unprivileged
            pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
            assert os.stat(f"/proc/{pid}").st_uid != 0


def test_db_status_reports_schema_then_stop_and_restart_on_same_port(var_dir):
    assert _gridgov(var_dir, "db", "start").returncode == 0
    status = _gridgov(var_dir, "db", "status", "--json")
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["running"] is True and info["managed"] is True
    assert info["url"] == _url(var_dir).replace("postgresql:", "postgresql+psycopg:").replace(
        _password(var_dir, "gridgov"), "***"
    )
    assert info["schema"]["current"] is None and info["schema"]["up_to_date"] is False

    assert _gridgov(var_dir, "db", "upgrade").returncode == 0
    info = json.loads(_gridgov(var_dir, "db", "status", "--json").stdout)
    assert info["schema"]["up_to_date"] is True

    port = Cluster(var_dir / "pg").port
    stop = _gridgov(var_dir, "db", "stop")
    assert stop.returncode == 0 and stop.stdout.strip() == "stopped"
    down = _gridgov(var_dir, "db", "status")
    assert down.returncode == 1
    assert "running: no" in down.stdout
    assert _gridgov(var_dir, "db", "stop").stdout.strip() == "not running"

    assert _gridgov(var_dir, "db", "start").stdout.startswith("started")
    assert Cluster(var_dir / "pg").port == port


def test_db_start_gives_a_cluster_todays_settings_and_keeps_the_others(var_dir):
    # a cluster made by an older checkout (256 MB of shared buffers, as every cluster had
    # before the publish benchmark showed a town's cases evicted) and a setting of the
    # operator's own (ALTER SYSTEM writes the same file): the next start writes gridgov's
    # settings, once each, and keeps the operator's
    from db.cluster import shared_buffers_mb

    assert _gridgov(var_dir, "db", "start").returncode == 0
    assert _gridgov(var_dir, "db", "stop").returncode == 0
    cluster = Cluster(var_dir / "pg")
    conf = cluster.data_dir / "postgresql.auto.conf"
    old = conf.read_text().replace(f"shared_buffers = {shared_buffers_mb()}MB", "shared_buffers = 256MB")
    assert "shared_buffers = 256MB" in old
    cluster._write_server_file(conf, old + "log_min_duration_statement = '2s'\n")

    assert _gridgov(var_dir, "db", "start").stdout.startswith("started")
    with psycopg.connect(_url(var_dir, "--admin"), **NO_PASSFILE) as conn:
        shown = {name: conn.execute(f"SELECT setting, unit FROM pg_settings WHERE name = '{name}'").fetchone()
                 for name in ("shared_buffers", "log_min_duration_statement")}
    assert int(shown["shared_buffers"][0]) * 8 // 1024 == shared_buffers_mb()  # 8 kB pages
    assert shown["log_min_duration_statement"] == ("2000", "ms")
    lines = conf.read_text().splitlines()
    assert sum(line.startswith("shared_buffers") for line in lines) == 1


def test_external_database_url_starts_nothing(tmp_path, pg_server):
    env = dict(os.environ, GRIDGOV_VAR_DIR=str(tmp_path / "var"), GRIDGOV_DATABASE_URL=pg_server.url_for("postgres"))
    out = subprocess.run([*GRIDGOV, "db", "start"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "nothing to start" in out.stdout
    assert not (tmp_path / "var" / "pg").exists()
    url = subprocess.run([*GRIDGOV, "db", "url"], env=env, capture_output=True, text=True, timeout=60)
    assert url.stdout.strip().endswith("/postgres")
    admin = subprocess.run([*GRIDGOV, "db", "url", "--admin"], env=env, capture_output=True, text=True, timeout=60)
    assert admin.returncode == 1 and "GRIDGOV_DATABASE_URL is set" in admin.stderr


def test_url_before_first_start_says_what_to_run(tmp_path):
    out = _gridgov(tmp_path / "var", "db", "url")
    assert out.returncode == 1
    assert "gridgov db start" in out.stderr
    assert "Traceback" not in out.stderr


def _password(var_dir: Path, role: str) -> str:
    return json.loads((var_dir / "pg-passwords.json").read_text())[role]


@pytest.fixture(scope="module")
def managed(tmp_path_factory):
    """A managed cluster started by `gridgov db start` under a umask that would share every file."""
    var = tmp_path_factory.mktemp("managed") / "var"
    out = _gridgov(var, "db", "start", umask=0)
    assert out.returncode == 0, out.stderr
    yield var
    Cluster(var / "pg").destroy()


def test_passwords_are_kept_in_a_file_only_the_invoking_user_reads(managed):
    path = managed / "pg-passwords.json"
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.geteuid()
    passwords = json.loads(path.read_text())
    assert set(passwords) == {"postgres", "gridgov"}
    assert passwords["postgres"] != passwords["gridgov"]
    # and the server's own directory does not hold them: initdb's password file is gone
    assert not list((managed / "pg").resolve().glob(".initdb*"))
    started = _gridgov(managed, "db", "start")
    assert _password(managed, "gridgov") not in started.stdout  # shown only by `db url`


@pytest.mark.parametrize("role", ["gridgov", "postgres"])
def test_a_connection_without_the_right_password_is_refused(managed, role):
    port = Cluster(managed / "pg").port
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(host="127.0.0.1", port=port, user=role, dbname="postgres", **NO_PASSFILE)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host="127.0.0.1", port=port, user=role, password="not-the-password", dbname="postgres", **NO_PASSFILE)
    with psycopg.connect(
        host="127.0.0.1", port=port, user=role, password=_password(managed, role), dbname="postgres", **NO_PASSFILE
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == role


def test_pg_hba_asks_every_connection_for_a_password(managed):
    url = _url(managed, "--admin")
    with psycopg.connect(url, **NO_PASSFILE) as conn:
        rules = conn.execute("SELECT type, auth_method FROM pg_hba_file_rules WHERE error IS NULL").fetchall()
    assert rules and {method for _, method in rules} == {"scram-sha-256"}
    assert {kind for kind, _ in rules} == {"local", "host"}


def test_the_app_role_owns_its_database_and_nothing_more(managed):
    with psycopg.connect(_url(managed), autocommit=True, **NO_PASSFILE) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert role == (False, False, False, False, False)
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert owner.fetchone()[0] == "gridgov"
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute('CREATE DATABASE "not_allowed"')
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT rolpassword FROM pg_authid")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("ALTER SYSTEM SET work_mem = '1GB'")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE ROLE intruder SUPERUSER")
    with psycopg.connect(_url(managed, "--admin"), **NO_PASSFILE) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0] is True


def test_db_url_is_what_psql_takes(managed):
    out = subprocess.run(
        ["psql", _url(managed), "-XAtc", "SELECT current_user || ' ' || postgis_lib_version()"],
        env={"PATH": os.environ["PATH"], "PGPASSFILE": "/nonexistent"}, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("gridgov 3")


def _legacy_cluster(root: Path) -> tuple[Cluster, str]:
    """A cluster as gridgov made them before passwords: trust, its one role the superuser
    `gridgov`, which owns the migrated `gridgov` database; left running, as an older
    checkout's `make run` leaves it. Returns the cluster and its (password-less) URL."""
    cluster = Cluster(root)
    cluster._prepare_root()
    cluster._pg("initdb", "-D", str(cluster.data_dir), "-U", "gridgov", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
    settings = "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\n"
    cluster._write_server_file(cluster.data_dir / "postgresql.auto.conf", settings)
    port = free_port()
    cluster.port_file.write_text(f"{port}\n")
    cluster._pg("pg_ctl", "start", "-w", "-D", str(cluster.data_dir), "-l", str(cluster.log_file), "-o", f"-p {port}")
    with psycopg.connect(host="127.0.0.1", port=port, user="gridgov", dbname="postgres", autocommit=True) as conn:
        conn.execute('CREATE DATABASE "gridgov"')
    with psycopg.connect(host="127.0.0.1", port=port, user="gridgov", dbname="gridgov", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    url = f"postgresql+psycopg://gridgov@127.0.0.1:{port}/gridgov"
    migrate.upgrade(url)
    return cluster, url


def test_db_start_upgrades_a_cluster_made_before_passwords(tmp_path):
    var = tmp_path / "var"
    cluster, legacy_url = _legacy_cluster(var / "pg")
    try:
        old_session = psycopg.connect(legacy_url.replace("+psycopg", ""), autocommit=True)  # an older gridgov serving
        n_categories = old_session.execute("SELECT count(*) FROM categories").fetchone()[0]
        assert n_categories > 0
        before = _gridgov(var, "db", "url")
        assert before.returncode == 1 and "gridgov db start" in before.stderr

        out = _gridgov(var, "db", "start")
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("already running")
        assert stat.S_IMODE((var / "pg-passwords.json").stat().st_mode) == 0o600

        # trust is gone: no password, no entry, for any role
        for role in ("gridgov", "postgres"):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(host="127.0.0.1", port=cluster.port, user=role, dbname="gridgov", **NO_PASSFILE)
        url = _url(var)
        with psycopg.connect(url, **NO_PASSFILE) as conn:
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0] is False
            assert conn.execute("SELECT count(*) FROM categories").fetchone()[0] == n_categories  # the data kept
            not_ours = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner <> 'gridgov'"
            ).fetchall()
            assert not_ours == [("spatial_ref_sys",)]  # PostGIS's, left with the superuser
            functions_not_ours = conn.execute(
                "SELECT proname FROM pg_proc p WHERE pronamespace = 'public'::regnamespace AND proowner <> 'gridgov'::regrole"
                " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid"
                " AND d.deptype = 'e')"
            ).fetchall()
            assert functions_not_ours == []  # the migrations' trigger functions are the app role's now
        with psycopg.connect(_url(var, "--admin"), **NO_PASSFILE) as conn:
            # the old superuser, renamed: still the bootstrap role, and no helper role left over
            assert conn.execute("SELECT oid, rolsuper FROM pg_roles WHERE rolname = 'postgres'").fetchone() == (10, True)
            assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%'").fetchone()[0] == 2

        # the app role may change its schema: down past a migration that drops triggers and a
        # function (0007), and up again
        command.downgrade(migrate.alembic_config(url.replace("postgresql:", "postgresql+psycopg:")), "0006")
        upgraded = _gridgov(var, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert _gridgov(var, "db", "start").stdout.startswith("already running")  # and again: nothing to do
        old_session.close()
    finally:
        cluster.destroy()
