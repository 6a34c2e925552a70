"""The servers the tests talk to over real HTTP, started one way for every test module.

- ``AppThread``: the Flask app served by werkzeug's threaded server on a free port of
  127.0.0.1, in a daemon thread of the test process (browser tests, concurrent requests).
- ``start_server`` / ``stop_server``: ``gridgov serve`` (gunicorn, as in production) in a
  process of its own, for what only separate processes show (live notices between them, a
  restart, the worker class and its threads).
- ``start_worker``: ``gridgov worker`` (the background worker) in a process of its own,
  stopped the same way (``stop_server``).

tests/conftest.py wraps them in fixtures that stop what a test started: ``app_server``,
``gridgov_server`` and ``gridgov_worker``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from flask import Flask
from werkzeug.serving import make_server

from db.cluster import free_port
from web import create_app

GRIDGOV = Path(sys.executable).parent / "gridgov"
# Only catches a server that will never answer; a busy machine may take its time.
READY_CEILING_S = 30


class AppThread:
    """An app (or ``create_app`` on a database URL) served on 127.0.0.1 in a daemon thread."""

    def __init__(self, app_or_database_url: Flask | str, name: str = "live-server"):
        app = app_or_database_url
        if not isinstance(app, Flask):
            app = create_app({"DATABASE_URL": app_or_database_url})
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.host, self.port = "127.0.0.1", self._server.server_port
        self.base = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)
        self._thread.start()
        self._stopped = False

    def stop(self) -> None:
        """Stop serving and close the socket; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


@dataclass
class ServeProcess:
    """A running ``gridgov serve``: its process (a process group of its own) and address."""

    proc: subprocess.Popen
    port: int
    log: IO[bytes] = field(repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n_chars: int = 2000) -> str:
        """The end of what the server wrote to stdout and stderr.

        Read with pread, which leaves the file's offset alone: the process writes through a
        copy of this descriptor and so shares that offset, and a seek here made its next line
        land over the beginning of the log (lines lost or out of order, as a log-counting test
        once saw in CI)."""
        fd = self.log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")[-n_chars:]


def start_server(
    database_url: str,
    port: int | None = None,
    *,
    workers: int = 1,
    threads: int | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> ServeProcess:
    """Start ``gridgov serve`` on 127.0.0.1 against ``database_url`` and return once its
    ``/healthz`` answers 200.

    ``port``: a free one when None (give the old one to restart a stopped server in place).
    ``workers`` and ``threads`` become ``--workers`` and ``--threads`` (None: serve's default
    threads); ``args`` are more command-line arguments of ``gridgov serve``, appended as given
    after those; ``env`` adds to this process's environment (GRIDGOV_DATABASE_URL is set from
    ``database_url``).

    The server runs in its own process group, so ``stop_server`` reaches gunicorn's master
    and its workers together. Raises AssertionError, with the end of the server's output, if
    the process exits first or /healthz does not answer 200 within READY_CEILING_S (30 s).

    Example::

        server = start_server(url, workers=2, threads=8, env={"GRIDGOV_LANGUAGE": "en"})
        try:
            urllib.request.urlopen(server.base + "/api/v1/categories")
        finally:
            stop_server(server)

    In a test, prefer the ``gridgov_server`` fixture (tests/conftest.py): same arguments, and
    every server it started is stopped after the test.
    """
    port = free_port() if port is None else port
    argv = [str(GRIDGOV), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if threads is not None:
        argv += ["--threads", str(threads)]
    argv += list(args)
    log = tempfile.TemporaryFile(prefix="gridgov-serve-")  # noqa: SIM115  (closed by stop_server)
    proc = subprocess.Popen(
        argv, env={**os.environ, **(env or {}), "GRIDGOV_DATABASE_URL": database_url},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = ServeProcess(proc, port, log)
    deadline = time.monotonic() + READY_CEILING_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = server.log_tail()
            stop_server(server)
            raise AssertionError(f"gridgov serve exited with {proc.returncode}: {output}")
        try:
            with urllib.request.urlopen(f"{server.base}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:  # not listening yet, or 503 while the database is not ready
            pass
        time.sleep(0.2)
    output = server.log_tail()
    stop_server(server)
    raise AssertionError(f"gridgov serve did not answer /healthz within {READY_CEILING_S} s: {output}")


def stop_server(server: ServeProcess) -> None:
    """Kill the server, master and workers (its own process group), as a crash would; a
    stopped server is left as it is.

    Not SIGTERM or SIGINT: gunicorn then waits its graceful timeout for workers whose open
    event streams never end by themselves."""
    if server.proc.poll() is None:
        os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=15)
    server.log.close()


def start_worker(database_url: str, *, env: Mapping[str, str] | None = None) -> ServeProcess:
    """Start ``gridgov worker`` against ``database_url`` in its own process group and return
    at once (it has no address; wait for what it does). ``env`` adds to the environment, e.g.
    ``{"GRIDGOV_SUPERVISION_CRON": "* * * * * *"}`` for a pass every second. Stop it with
    ``stop_server`` (SIGKILL to the group, as a crash would); ``port`` is 0."""
    log = tempfile.TemporaryFile(prefix="gridgov-worker-")  # noqa: SIM115  (closed by stop_server)
    proc = subprocess.Popen(
        [str(GRIDGOV), "worker"],
        env={**os.environ, **(env or {}), "GRIDGOV_DATABASE_URL": database_url},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return ServeProcess(proc, 0, log)
