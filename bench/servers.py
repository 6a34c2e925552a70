"""Servers and databases for the benchmarks, started one way for every script.

- ``add_server_options``, ``prepare_database``, ``drop_database``: the run's throwaway
  database with the Bagong demo, on the server of ``gridgov db url`` (GRIDGOV_DATABASE_URL,
  which bench/run.py sets, else the managed cluster); the database that URL names is never
  written to.
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
from db.session import conninfo, database_url
from demo.load import load_demo

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

__all__ = ["Server", "add_server_options", "drop_database", "free_port", "prepare_database",
           "start_gridgov"]


# -- databases -------------------------------------------------------------------------------


def _on(url: str, dbname: str) -> str:
    return make_url(url).set(database=dbname).render_as_string(hide_password=False)


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(conninfo(_on(url, "postgres")), autocommit=True)


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
    migrated, with the demo (``--seed``, ``--cases``) loaded; its URL."""
    server_url = database_url()
    print(f"preparing {args.db_name} (demo seed {args.seed}, {args.cases} cases)…", flush=True)
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db_name}"')
    url = _on(server_url, args.db_name)
    migrate.upgrade(url)
    load_demo(url, seed=args.seed, cases=args.cases, progress=False)
    return url


def drop_database(args: argparse.Namespace) -> None:
    """Drop the run's database, whoever is still connected, unless ``--keep-db``."""
    if not args.keep_db:
        with _admin(database_url()) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')


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
    url: str, workers: int = 2, port: int | None = None, args: Sequence[str] = ()
) -> Server:
    """``gridgov serve --workers N`` on 127.0.0.1 (a free port unless ``port``) against the
    database ``url``, once its /healthz answers 200; ``args`` are more ``gridgov serve``
    arguments."""
    port = free_port() if port is None else port
    argv = [str(BIN / "gridgov"), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), *args]
    return Server("gridgov", argv, {"GRIDGOV_DATABASE_URL": url}, port, "/healthz")
