"""The test servers of tests/servers.py: ``gridgov serve`` starts with the options asked,
answers, and is gone, workers included, once stopped; a server that cannot start says why."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from tests.servers import start_server, stop_server


def _running_in_group(pgid: int) -> list[int]:
    """The pids of process group ``pgid`` that still run (zombies waiting to be reaped do not)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
        except OSError:  # the process ended while we looked
            continue
        if int(pgrp) == pgid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _gone(pgid: int) -> bool:
    deadline = time.monotonic() + 30  # SIGKILL is delivered at once; this only catches a hang
    while _running_in_group(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _running_in_group(pgid) == []


def test_gridgov_serve_starts_with_extra_arguments_and_environment_and_stops_whole(
    empty_db_url, gridgov_server
):
    server = gridgov_server(empty_db_url, workers=2, args=["--threads", "2"],
                            env={"GRIDGOV_LANGUAGE": "en"})
    with urllib.request.urlopen(server.base + "/healthz", timeout=30) as answer:
        assert answer.status == 200
    with urllib.request.urlopen(server.base + "/", timeout=30) as answer:
        assert '<html lang="en"' in answer.read().decode()
    assert len(_running_in_group(server.proc.pid)) >= 3  # gunicorn's master and two workers
    stop_server(server)
    assert _gone(server.proc.pid)
    with pytest.raises(OSError):
        urllib.request.urlopen(server.base + "/healthz", timeout=5)


def test_a_server_that_exits_at_once_fails_with_its_output(empty_db_url):
    with pytest.raises(AssertionError, match="--workers"):
        start_server(empty_db_url, args=["--workers", "0"])


def test_an_app_thread_serves_until_stopped(empty_db_url, app_server):
    server = app_server(empty_db_url)
    with urllib.request.urlopen(server.base + "/api/v1/categories", timeout=30) as answer:
        assert answer.status == 200
    server.stop()
    server.stop()  # a second stop does nothing
    with pytest.raises(OSError):
        urllib.request.urlopen(server.base + "/api/v1/categories", timeout=5)


def test_each_gridgov_serve_worker_listens_before_its_first_request(empty_db_url, gridgov_server):
    """Each worker's live listener runs from its start (web/serve.py): the credential cache
    (web/auth.py) answers only while it listens. One listener connection per worker, with no
    request but /healthz (which the fixture asked) and no stream or tile."""
    import psycopg

    from db.session import conninfo
    from web.live import APPLICATION_NAME

    gridgov_server(empty_db_url, workers=2)

    def listeners() -> int:
        with psycopg.connect(conninfo(empty_db_url)) as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE "
                                "datname = current_database() AND application_name = %s",
                                (APPLICATION_NAME,)).fetchone()[0]

    deadline = time.monotonic() + 30
    while listeners() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listeners() == 2
