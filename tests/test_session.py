"""Pooled connections: an idle connection cut by the server is pinged and replaced, one in
steady use is handed out without a ping (db.session._ping_when_idle) — a real server."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import db.session as db_session
from db.session import conninfo, engine_for


def _pooled_backend(url: str) -> int:
    """Open a pooled connection, note its server process, give it back to the pool."""
    with engine_for(url).connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(conninfo(url), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]


@pytest.fixture
def url(empty_db_url):
    engine_for(empty_db_url).dispose()
    yield empty_db_url
    engine_for(empty_db_url).dispose()


def test_an_idle_connection_cut_by_the_server_is_replaced_before_use(url, monkeypatch):
    cut = _pooled_backend(url)
    _terminate(url, cut)
    monkeypatch.setattr(db_session, "PING_IDLE_S", 0.0)  # every pooled connection counts as idle

    with engine_for(url).connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert pid != cut


def test_a_connection_in_steady_use_is_not_pinged(url, monkeypatch):
    # the counterpart: without the idle ping the cut connection is handed out as it is, and
    # its first statement fails; the pool is then invalidated and the next one works
    cut = _pooled_backend(url)
    _terminate(url, cut)
    monkeypatch.setattr(db_session, "PING_IDLE_S", 3600.0)

    with pytest.raises(OperationalError), engine_for(url).connect() as conn:
        conn.execute(text("SELECT 1"))
    with engine_for(url).connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != cut


def test_every_connection_opens_without_jit_or_parallel_workers_unless_the_url_says(url):
    def settings(u: str) -> list[str]:
        with engine_for(u).connect() as conn:
            return [conn.execute(text(f"SHOW {name}")).scalar_one()
                    for name in ("jit", "max_parallel_workers_per_gather")]

    assert settings(url) == ["off", "0"]
    # a URL's own options are used as they are; an empty options= sends none
    own, none = url + "?options=-c%20jit%3Don", url + "?options="
    try:
        assert settings(own)[0] == "on" and settings(own)[1] != "0"
        assert settings(none)[1] != "0"
    finally:
        engine_for(own).dispose()
        engine_for(none).dispose()


def test_a_connection_handed_back_after_dispose_is_closed_not_left_to_the_garbage_collector(url):
    # a request still running when the engine is disposed (a test's server stopping, gunicorn
    # forking) hands its connection back later, into a pool nobody reads: it must be closed
    # there, or it lingers open and psycopg warns whenever the garbage collector finds it
    engine = engine_for(url)
    conn = engine.connect()
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    dbapi = conn.connection.driver_connection
    engine.dispose()
    conn.close()
    assert dbapi.closed
    with psycopg.connect(conninfo(url), autocommit=True) as admin:
        assert admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] == 0
    with engine_for(url).connect() as conn:  # the new pool works and keeps what it is given
        again = conn.connection.driver_connection
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert not again.closed
