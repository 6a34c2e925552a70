"""Servers and databases for the benchmarks, started one way for every script.

- ``add_server_options``, ``prepare_database``, ``drop_database``: the run's throwaway
  database with the Bagong demo, on the server of GRIDGOV_DATABASE_URL, else on the managed
  cluster (made by its superuser, owned by the application's role); the database that
  GRIDGOV_DATABASE_URL names is never written to. ``create_database`` makes any other.
- ``Server``: a server process in its own process group, waited for until a path answers 200
  and stopped with its whole group; ``start_gridgov`` starts ``gridgov serve`` this way (a
  peer such as tipg uses ``Server`` directly).

The scripts put the repository root on sys.path before importing this module.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from db import migrate
from db.cluster import free_port
from db.session import conninfo, database_url, managed_cluster
from demo.load import load_demo
from demo.registry import RESIDENTS

ROOT = Path(__file__).resolve().parent.parent
BENCH_INTAKE_LIMIT = "100000000 per minute"
BIN = Path(sys.executable).parent

__all__ = ["Server", "add_server_options", "drop_database", "free_port", "prepare_database",
           "set_on_database", "start_gridgov"]


# -- databases -------------------------------------------------------------------------------


def _on(url: str, dbname: str) -> str:
    return make_url(url).set(database=dbname).render_as_string(hide_password=False)


def _admin(url: str, dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(conninfo(_on(url, dbname)), autocommit=True)


def _creator() -> tuple[str, str | None]:
    """The URL that creates and drops the benchmarks' databases, and the role to own them.

    On the managed cluster (GRIDGOV_DATABASE_URL unset, or naming a database on it, as
    bench/run.py does): its superuser creates them (the application's role may not) and gives
    them to the application's role, which every benchmark then connects as, as ``gridgov
    serve`` does in production. Elsewhere GRIDGOV_DATABASE_URL's role does both (it must be
    allowed to create databases)."""
    from db.cluster import APP_ROLE

    cluster = managed_cluster()
    given = os.environ.get("GRIDGOV_DATABASE_URL")
    if given and make_url(given).port != cluster.port:
        return database_url(), None
    return cluster.admin_url(), APP_ROLE


def checkpoint() -> float | None:
    """Write every dirty page out now (CHECKPOINT, as the role that creates the benchmarks'
    databases): a measurement that follows a bulk load must not share the machine with the
    checkpoint that writes the load out, nor pay the full-page images of the first change to
    each page after it. Seconds it took; None when the role may not (an external server)."""
    url, _ = _creator()
    started = time.monotonic()
    try:
        with _admin(url) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        return None
    return time.monotonic() - started


def set_on_database(name: str, setting: str, value: str) -> bool:
    """``ALTER DATABASE name SET setting = value`` as the role that creates the benchmarks'
    databases (a superuser on the managed cluster: settings such as track_wal_io_timing are
    theirs); whether it could. Connections made afterwards use it."""
    url, _ = _creator()
    try:
        with _admin(url) as conn:
            conn.execute(f'ALTER DATABASE "{name}" SET {setting} = {value}')
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def url_of(name: str) -> str:
    """The URL the application uses for the database ``name`` (made by create_database)."""
    server_url, owner = _creator()
    return _on(server_url, name) if owner is None else managed_cluster().url(name)


def create_database(name: str) -> str:
    """``name`` created afresh (dropped first), with PostGIS; the URL to use it with."""
    server_url, owner = _creator()
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else ""))
    if owner is not None:
        with _admin(server_url, name) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")  # only a superuser may
    return url_of(name)


def database_exists(name: str) -> bool:
    with _admin(_creator()[0]) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def drop_named_database(name: str) -> None:
    with _admin(_creator()[0]) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_server_options(parser: argparse.ArgumentParser, kind: str) -> None:
    """The options of a script that starts its own database and ``gridgov serve``:
    ``--workers``, and the throwaway database's ``--seed``, ``--cases``, ``--db-name`` and
    ``--keep-db``; ``kind`` names the script in the database's default name."""
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each gridgov serve")
    parser.add_argument("--seed", type=int, default=1, help="demo seed (the run's random choices use it too)")
    parser.add_argument("--cases", type=int, default=4107, help="demo cases loaded before the run")
    # one database per run: two runs at once (two sessions benchmarking) must not drop each
    # other's database halfway
    parser.add_argument("--db-name", default=f"gridgov_bench_{kind}_{os.getpid()}")
    parser.add_argument("--keep-db", action="store_true")


def prepare_database(args: argparse.Namespace) -> str:
    """The run's database ``--db-name``, created afresh on the server of ``gridgov db url``,
    migrated, with the demo (``--seed``, ``--cases``, and ``--residents`` when the script has
    it) loaded; its URL."""
    residents = getattr(args, "residents", RESIDENTS)
    print(f"preparing {args.db_name} (demo seed {args.seed}, {args.cases} cases, "
          f"{residents:,} residents)…", flush=True)
    url = create_database(args.db_name)
    migrate.upgrade(url)
    load_demo(url, seed=args.seed, cases=args.cases, progress=False, residents=residents)
    return url


def bench_token(url: str, name: str = "town_operator") -> str:
    """A new API token of account ``name`` (the demo's, demo/accounts.py; made when a database
    loaded before accounts existed lacks it), for the requests that need an account."""
    from accounts import repository, service
    from db.session import session_scope
    from demo.accounts import DEMO_PASSWORD

    with session_scope(url) as session:
        if repository.account_by_name(session, name) is None:
            service.create_account(session, name, name, password=DEMO_PASSWORD)
        token, _ = service.issue_token(session, name)
    return token


def bench_cookie(url: str, name: str = "town_operator") -> str:
    """The session cookie's value of the demo's account ``name`` signed in (for a browser)."""
    from accounts import service
    from db.session import session_scope
    from demo.accounts import DEMO_PASSWORD

    bench_token(url, name)  # the account, when a database loaded before accounts lacks it
    with session_scope(url) as session:
        session_id, _ = service.sign_in(session, name, DEMO_PASSWORD)
    return session_id


def drop_database(args: argparse.Namespace) -> None:
    """Drop the run's database, whoever is still connected, unless ``--keep-db``."""
    if not args.keep_db:
        drop_named_database(args.db_name)


# -- server processes ------------------------------------------------------------------------


class Server:
    """A server process we started, in its own process group, answering ``ready_path``.

    Its output goes to /tmp/gridgov_bench_<name>_<port>.log; an error names that file.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        port: int,
        ready_path: str,
        timeout_s: float = 120,
    ):
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(f"/tmp/gridgov_bench_{name}_{port}.log", "w")  # noqa: SIM115  (closed by stop)
        self.proc = subprocess.Popen(
            list(argv), env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=ROOT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{name} exited with {self.proc.returncode}; see {self.log.name}")
            if self._answers(ready_path):
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{name} did not answer {ready_path} within {timeout_s:g} s; see {self.log.name}")

    def _answers(self, path: str) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", path)
                return conn.getresponse().status == 200
            finally:
                conn.close()
        except OSError:
            return False

    def stop(self, grace_s: float = 30) -> None:
        """SIGTERM to the whole group, SIGKILL after ``grace_s`` seconds (at once with 0)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM if grace_s > 0 else signal.SIGKILL)
            try:
                self.proc.wait(timeout=grace_s or None)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def start_gridgov(
    url: str, workers: int = 2, port: int | None = None, args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Server:
    """``gridgov serve --workers N`` on 127.0.0.1 (a free port unless ``port``) against the
    database ``url``, once its /healthz answers 200; ``args`` are more ``gridgov serve``
    arguments, ``env`` more of its environment (GRIDGOV_REPLICA_URL, say)."""
    port = free_port() if port is None else port
    argv = [str(BIN / "gridgov"), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), *args]
    # the benchmarks send residents' reports from one address, hundreds a second: the
    # limiter stays on (its cost is part of what is measured) with a bound they never reach
    return Server("gridgov", argv, {"GRIDGOV_DATABASE_URL": url,
                                    "GRIDGOV_RATELIMIT_INTAKE": BENCH_INTAKE_LIMIT, **(env or {})},
                  port, "/healthz")
