"""Per-request database sessions, opened lazily and closed at the end of the request.

Three servers may stand behind them (db/session.py says how each is configured):

- the **primary**, directly or through PgBouncer in transaction mode (``engine()``): every
  write, the workflow, and every read not marked otherwise;
- a **hot standby** (``GRIDGOV_REPLICA_URL``), for the views marked ``@replica_reads``: the
  map, tiles, hot spots, statistics and the public pages, which are most of the reads and need
  no transaction with a write;
- a **direct** connection to the primary for the live listener (``listen_conninfo()``): LISTEN
  needs one server connection for as long as it listens, which PgBouncer does not give.

**Reading your own writes.** A standby replays the primary's WAL a moment behind it. A client
that has just changed a case and then opens it must see its change, so every unsafe request
that succeeded answers with the primary's WAL position after it (db/replication.py), in a
short-lived cookie (``LSN_COOKIE``) and a header (``LSN_HEADER``, which an API client may send back instead). A
``@replica_reads`` view reads from the standby only when it has replayed up to the position
the client carries; otherwise from the primary. A standby that cannot be reached is skipped too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from db import replication
from db.cluster import ClusterError
from db.session import conninfo, database_url, engine_for, pgbouncer_url, replica_url

_KEYS = ("db_session", "db_session_autocommit")
# the view may read from the standby (set by replica_reads)
_REPLICA_ATTRIBUTE = "gridgov_replica_reads"
LSN_COOKIE = "gridgov_lsn"
LSN_HEADER = "Gridgov-LSN"
# How long a client's reads check the standby against its last write. A standby further
# behind than this is broken rather than late, and is for its monitoring to report.
LSN_MAX_AGE_S = 60
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger(__name__)


def _settings() -> dict:
    return {key: current_app.config.get(key)
            for key in ("DATABASE_URL", "REPLICA_URL", "PGBOUNCER_URL", "REPLICA", "PGBOUNCER")}


def _resolved() -> dict:
    """The app's servers, resolved once: ``direct``, ``pooled`` (None without PgBouncer) and
    ``replica`` (None without a standby) URLs."""
    found = current_app.config.get("_RESOLVED_DATABASES")
    if found is None:
        settings = _settings()
        found = {"direct": database_url(settings), "pooled": pgbouncer_url(settings), "replica": None}
        try:
            found["replica"] = replica_url(settings)
        except ClusterError as exc:  # GRIDGOV_REPLICA on, the standby never started
            log.warning("no standby to read from until the server restarts: %s", exc)
        current_app.config["_RESOLVED_DATABASES"] = found
    return found


def engine() -> Engine:
    """The primary's engine: through PgBouncer when configured, else direct."""
    found = _resolved()
    if found["pooled"]:
        return engine_for(found["pooled"], pooled=True)
    return engine_for(found["direct"])


def replica_engine() -> Engine | None:
    """The standby's engine, None when the app has none."""
    url = _resolved()["replica"]
    return engine_for(url) if url else None


def listen_conninfo() -> str:
    """The app's database as a libpq URL, directly (never through PgBouncer): the key of its
    live listener (web/live.py)."""
    found = current_app.config.get("_LISTEN_CONNINFO")
    if found is None:
        found = conninfo(_resolved()["direct"])
        current_app.config["_LISTEN_CONNINFO"] = found
    return found


def replica_conninfo() -> str | None:
    """The standby as a libpq URL (web/live.py asks it how far it has replayed), None without one."""
    url = _resolved()["replica"]
    return conninfo(url) if url else None


def replica_reads(view: Callable) -> Callable:
    """Declare a view read-only: its sessions may read from the standby (module doc). Only for
    views that write nothing (a standby refuses writes) and need no snapshot shared with a
    write. Place it next to the route's other decorators."""
    setattr(view, _REPLICA_ATTRIBUTE, True)
    return view


def use_primary() -> None:
    """This request's sessions on the primary, in a ``@replica_reads`` view too: for the one
    request of such a view that writes (a read of a case's personal data with a reason writes
    its audit row first, web/disclosure.py). Call it before the view's first ``session()``."""
    if g.get(_KEYS[0]) is not None or g.get(_KEYS[1]) is not None:
        raise RuntimeError("use_primary() after the request's session was opened")
    g.db_source = engine()


def reads_replica(view: Callable | None) -> bool:
    """Whether ``view`` was declared with ``replica_reads``."""
    return bool(getattr(view, _REPLICA_ATTRIBUTE, False))


def _client_lsn() -> str | None:
    found = request.headers.get(LSN_HEADER) or request.cookies.get(LSN_COOKIE)
    return found.strip() if found else None


def _source() -> Engine:
    """The engine this request reads and writes with, chosen once per request: the standby for
    a ``@replica_reads`` view whose client's last write it has replayed, else the primary."""
    found = g.get("db_source")
    if found is None:
        found = engine()
        standby = replica_engine()
        if (standby is not None and has_request_context() and request.method in _SAFE_METHODS
                and reads_replica(current_app.view_functions.get(request.endpoint))
                and _caught_up(standby, _client_lsn())):
            found = standby
        g.db_source = found
    return found


def _caught_up(standby: Engine, lsn: str | None) -> bool:
    """Whether ``standby`` answers and has replayed the WAL up to ``lsn`` (any, when None). A
    position that is no LSN is not trusted: the primary answers."""
    if lsn is not None and not replication.is_lsn(lsn):
        return False
    try:
        with Session(_autocommit(standby)) as probe:
            probe.connection()  # a standby that does not answer is skipped
            return lsn is None or replication.replayed_to(probe, lsn)
    except OperationalError as exc:
        log.warning("the standby cannot be reached, reading from the primary: %s", str(exc.orig).strip())
        return False


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
        source = _source()
        bind = _autocommit(source) if autocommit else source
        found = Session(bind, expire_on_commit=False)
        setattr(g, key, found)
    return found


@contextmanager
def lookup_session() -> Iterator[Session]:
    """An autocommit session of its own for a lookup made before the view's (who is asking:
    web/auth.py), closed when the block ends, its connection back in the pool.

    Why not the request's session: a request must never hold two of the pool's connections at
    once. Holding the lookup's while its view waited for a second one, concurrent requests
    emptied the pool (5 + 10 connections) between them and each waited for another for the
    pool's 30 s, then failed (seen: 20 phones refetching their tasks at the same moment).
    tests/test_pool_per_request.py checks every request holds at most one.
    """
    with Session(_autocommit(engine()), expire_on_commit=False) as found:
        yield found


def autocommit_connection() -> Connection:
    """A Core connection of the app's pool in autocommit, to use as a context manager: for one
    statement that needs no Session (a tile, tiles/mvt.py render)."""
    return _autocommit(_source()).connect()


def release() -> None:
    """End the request's sessions now, handing their connections back to the pool: for a
    response that outlives its view (a stream), which would otherwise hold a connection for
    as long as it is open."""
    _close(None)


def _close(exc: BaseException | None) -> None:
    for key in _KEYS:
        s = g.pop(key, None)
        if s is None:
            continue
        try:
            if exc is not None:
                s.rollback()
            s.close()
        except DBAPIError:
            # the database went away under the request (stopped, restarting): its error was
            # answered (503, web/unavailable.py); the connection is dropped, not returned
            s.invalidate()


def _remember_write(response: Response) -> Response:
    """After a write, the primary's WAL position, for the client's next reads (module doc)."""
    if (request.method in _SAFE_METHODS or response.status_code >= 400
            or _resolved()["replica"] is None):
        return response
    # on the request's own connection (the primary's: an unsafe request never reads the
    # standby) when it has one: a request never holds two
    held = g.get(_KEYS[1]) or g.get(_KEYS[0])
    try:
        if held is not None:
            lsn = replication.written_lsn(held)
        else:
            with lookup_session() as own:
                lsn = replication.written_lsn(own)
    except SQLAlchemyError as exc:  # the write is done: answer it; its reads may be older
        log.warning("no WAL position for the client's next reads: %s", str(exc).splitlines()[0])
        return response
    response.headers[LSN_HEADER] = lsn
    response.set_cookie(LSN_COOKIE, lsn, max_age=LSN_MAX_AGE_S, httponly=True, samesite="Lax",
                        secure=request.is_secure)
    return response


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close)
    app.after_request(_remember_write)
