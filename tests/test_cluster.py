"""The managed local PostGIS cluster: start, idempotence, status, url, stop — a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from db.cluster import Cluster

GRIDGOV = [sys.executable, "-m", "web.cli"]


def _gridgov(var_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GRIDGOV_DATABASE_URL"}
    env["GRIDGOV_VAR_DIR"] = str(var_dir)
    return subprocess.run([*GRIDGOV, *args], env=env, capture_output=True, text=True, timeout=180)


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

    url = _gridgov(var_dir, "db", "url").stdout.strip()
    assert url == f"postgresql+psycopg://gridgov@127.0.0.1:{port}/gridgov"
    with psycopg.connect(f"host=127.0.0.1 port={port} user=gridgov dbname=gridgov") as conn:
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


def test_external_database_url_starts_nothing(tmp_path, pg_server):
    env = dict(os.environ, GRIDGOV_VAR_DIR=str(tmp_path / "var"), GRIDGOV_DATABASE_URL=pg_server.url_for("postgres"))
    out = subprocess.run([*GRIDGOV, "db", "start"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "nothing to start" in out.stdout
    assert not (tmp_path / "var" / "pg").exists()
    url = subprocess.run([*GRIDGOV, "db", "url"], env=env, capture_output=True, text=True, timeout=60)
    assert url.stdout.strip().endswith("/postgres")


def test_url_before_first_start_says_what_to_run(tmp_path):
    out = _gridgov(tmp_path / "var", "db", "url")
    assert out.returncode == 1
    assert "gridgov db start" in out.stderr
    assert "Traceback" not in out.stderr
