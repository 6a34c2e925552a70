"""Per-request database sessions, opened lazily and closed at the end of the request."""

from __future__ import annotations

from functools import cache

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from db.session import conninfo, database_url, engine_for

_KEYS = ("db_session", "db_session_autocommit")


def engine() -> Engine:
    url = current_app.config.get("_RESOLVED_DATABASE_URL")
    if url is None:
        url = database_url({"DATABASE_URL": current_app.config.get("DATABASE_URL")})
        current_app.config["_RESOLVED_DATABASE_URL"] = url
    return engine_for(url)


def listen_conninfo() -> str:
    """The app's database as a libpq URL: the key of its live listener (web/live.py)."""
    found = current_app.config.get("_LISTEN_CONNINFO")
    if found is None:
        found = conninfo(engine().url.render_as_string(hide_password=False))
        current_app.config["_LISTEN_CONNINFO"] = found
    return found


@cache
def _autocommit(engine: Engine) -> Engine:
    # the same pool; each connection is switched to autocommit while it is checked out
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def session(autocommit: bool = False) -> Session:
    """The request's session: one transaction, committed by the view or rolled back at the end.

    ``autocommit=True`` gives a session where every statement is its own transaction: no BEGIN
    before the first statement and no COMMIT or ROLLBACK after the last, two round trips fewer
    (of four on an intake POST; measured: see bench/RESULTS.md, HTTP). Only for a request
    whose reads need no common snapshot and whose every write is one statement: a point
    lookup, and an intake without photos (the case and its first event are one INSERT).
    """
    key = _KEYS[autocommit]
    found = g.get(key)
    if found is None:
        bind = _autocommit(engine()) if autocommit else engine()
        found = Session(bind, expire_on_commit=False)
        setattr(g, key, found)
    return found


def autocommit_connection() -> Connection:
    """A Core connection of the app's pool in autocommit, to use as a context manager: for one
    statement that needs no Session (a tile, tiles/mvt.py render)."""
    return _autocommit(engine()).connect()


def release() -> None:
    """End the request's sessions now, handing their connections back to the pool: for a
    response that outlives its view (a stream), which would otherwise hold a connection for
    as long as it is open."""
    _close(None)


def _close(exc: BaseException | None) -> None:
    for key in _KEYS:
        s = g.pop(key, None)
        if s is not None:
            if exc is not None:
                s.rollback()
            s.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close)
