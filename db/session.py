"""Where the database is, engines (one per URL, per process) and transactional sessions."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    """The directory for local state (the managed cluster, uploads): ``GRIDGOV_VAR_DIR`` or ./var."""
    return Path(os.environ.get("GRIDGOV_VAR_DIR") or PROJECT_ROOT / "var")


def managed_cluster():
    from db.cluster import Cluster

    return Cluster(var_dir() / "pg")


def managed_standby():
    """The managed cluster's hot standby in ``var/pg-replica`` (``gridgov db start --replica``)."""
    from db.standby import Standby

    return Standby(var_dir() / "pg-replica", managed_cluster())


def managed_pgbouncer():
    """PgBouncer in front of the managed cluster, in ``var/pgbouncer`` (``gridgov db start --pgbouncer``)."""
    from db.pgbouncer import PgBouncer

    return PgBouncer(var_dir() / "pgbouncer", managed_cluster())


def setting_on(name: str, config: dict | None = None) -> bool:
    """Whether the on/off setting ``name`` (the mapping's, else ``GRIDGOV_<name>``) is on."""
    value = (config or {}).get(name)
    if value is None:
        value = os.environ.get(f"GRIDGOV_{name}", "")
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "on", "true", "yes")


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver whatever flavour of postgres URL was given."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def database_url(config: dict | None = None) -> str:
    """The database to use: the mapping's DATABASE_URL, ``GRIDGOV_DATABASE_URL``, else the managed cluster."""
    url = (config or {}).get("DATABASE_URL") or os.environ.get("GRIDGOV_DATABASE_URL")
    if url:
        return normalise_url(url)
    return managed_cluster().url()


def replica_url(config: dict | None = None) -> str | None:
    """The hot standby the app's read-only views may read from (web/database.py): the mapping's
    REPLICA_URL, ``GRIDGOV_REPLICA_URL``, the managed standby when ``GRIDGOV_REPLICA`` is on
    (and gridgov manages the database), else None."""
    url = (config or {}).get("REPLICA_URL") or os.environ.get("GRIDGOV_REPLICA_URL")
    if url:
        return normalise_url(url)
    if setting_on("REPLICA", config) and not _external_database(config):
        return managed_standby().url()
    return None


def pgbouncer_url(config: dict | None = None) -> str | None:
    """The database through PgBouncer in transaction mode, for the app's requests: the
    mapping's PGBOUNCER_URL, ``GRIDGOV_PGBOUNCER_URL``, the managed PgBouncer when
    ``GRIDGOV_PGBOUNCER`` is on (and gridgov manages the database), else None.

    Everything else keeps ``database_url()``, a direct connection: the live listener (its
    LISTEN must stay on one server connection, which transaction pooling does not give), the
    background worker (procrastinate listens too), migrations, dumps and the CLI.
    """
    url = (config or {}).get("PGBOUNCER_URL") or os.environ.get("GRIDGOV_PGBOUNCER_URL")
    if url:
        return normalise_url(url)
    if setting_on("PGBOUNCER", config) and not _external_database(config):
        return managed_pgbouncer().url()
    return None


def _external_database(config: dict | None) -> bool:
    return bool((config or {}).get("DATABASE_URL") or os.environ.get("GRIDGOV_DATABASE_URL"))


def conninfo(url: str) -> str:
    """A libpq connection URL (for psycopg, LISTEN, COPY) from a SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# A pooled connection idle for longer than this is pinged before it is handed out.
PING_IDLE_S = 10.0
# Bounds on every wait for the database, so that a request never hangs on one that is gone
# (web/unavailable.py answers 503 instead): a new connection's handshake, and a connection
# from a pool whose every connection is busy (SQLAlchemy's default is 30 s; a server thread
# holds at most one at a time, web/database.py, so the pool runs dry only when statements
# stall).
CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 5


# Every connection's settings, sent when it opens (no round trip later). JIT compilation costs
# 100+ ms whenever a plan's estimate crosses jit_above_cost, which a vector tile over a busy
# area does, and saves nothing on our queries; parallel workers on a small machine serving many
# requests at once only contend. Measured on 1M cases (2026-11-26): hot spots 0.89 → 0.86 s,
# the day's numbers 0.22 → 0.19 s, and tiles need no per-request SET LOCAL.
SERVER_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0"


@cache
def engine_for(url: str, pooled: bool = False) -> Engine:
    """The engine of this process for ``url``; ``pooled``: the URL is PgBouncer's, in
    transaction mode (``pgbouncer_url()``)."""
    # connect_timeout: a health check against a host that does not answer must not hang
    connect_args: dict = {"connect_timeout": CONNECT_TIMEOUT_S}
    if pooled:
        # Transaction pooling hands each transaction to whichever server connection is free:
        # a statement psycopg prepared (it does after 5 executions) on one is unknown on the
        # next. And PgBouncer refuses startup options: the managed one sets SERVER_OPTIONS
        # on each server connection instead (db/pgbouncer.py, connect_query).
        connect_args["prepare_threshold"] = None
    # A URL with its own options= is used as it is, an empty one included: a pooler such as
    # PgBouncer refuses startup options unless told to ignore them (?options= sends none;
    # SQLAlchemy's URL drops an empty value, so the query string is read here).
    elif "options" not in parse_qs(urlsplit(url).query, keep_blank_values=True):
        connect_args["options"] = SERVER_OPTIONS
    engine = create_engine(url, pool_size=5, max_overflow=10, pool_timeout=POOL_TIMEOUT_S,
                           connect_args=connect_args)
    _ping_when_idle(engine)
    _close_what_returns_after_dispose(engine)
    return engine


def _close_what_returns_after_dispose(engine: Engine) -> None:
    """Close a connection handed back after ``engine.dispose()`` instead of keeping it open.

    dispose() closes the connections in the pool and starts a new pool; a connection checked
    out at that moment (a request still running, a stream) goes back, when it is done, into
    the old pool's queue, which nobody reads again: the connection stays open until garbage
    collection finds it, then psycopg warns (ResourceWarning) at whatever code runs then. Each
    connection is stamped with the pool generation it was opened in; one checked in from an
    older generation is closed. (SQLAlchemy's events only: no pool subclass.)
    """
    generation = [0]

    @event.listens_for(engine, "engine_disposed")
    def _disposed(_engine):
        generation[0] += 1

    @event.listens_for(engine, "connect")
    def _opened(dbapi_connection, record):
        record.info["gridgov_generation"] = generation[0]

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, record):
        if dbapi_connection is not None and record.info.get("gridgov_generation") != generation[0]:
            dbapi_connection.close()


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it has been idle for PING_IDLE_S.

    SQLAlchemy's pool_pre_ping pings on every checkout: one more round trip per request, 16 %
    of a POST /api/v1/cases under load (py-spy, 2026-11-26). A connection in steady use is
    known to be alive; one that sat idle may have been cut by a database restart, and that is
    the one pinged. A connection that fails its ping is replaced (DisconnectionError makes the
    pool connect afresh); if the database restarts while connections are busy, the first
    statement on each fails, and SQLAlchemy invalidates the whole pool at once.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record):
        record.info["gridgov_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy):
        idle_since = record.info.get("gridgov_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IDLE_S:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            if not dbapi_connection.autocommit:
                dbapi_connection.rollback()
        except Exception as err:  # any failure: the connection is not usable
            raise exc.DisconnectionError(f"idle connection failed its ping: {err}") from err


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back on error."""
    session = sessionmaker(engine_for(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
