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


def conninfo(url: str) -> str:
    """A libpq connection URL (for psycopg, LISTEN, COPY) from a SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# A pooled connection idle for longer than this is pinged before it is handed out.
PING_IDLE_S = 10.0


# Every connection's settings, sent when it opens (no round trip later). JIT compilation costs
# 100+ ms whenever a plan's estimate crosses jit_above_cost, which a vector tile over a busy
# area does, and saves nothing on our queries; parallel workers on a small machine serving many
# requests at once only contend. Measured on 1M cases (2026-11-26): hot spots 0.89 → 0.86 s,
# the day's numbers 0.22 → 0.19 s, and tiles need no per-request SET LOCAL.
SERVER_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0"


@cache
def engine_for(url: str) -> Engine:
    # connect_timeout: a health check against a host that does not answer must not hang
    connect_args: dict = {"connect_timeout": 5}
    # A URL with its own options= is used as it is, an empty one included: a pooler such as
    # PgBouncer refuses startup options unless told to ignore them (?options= sends none;
    # SQLAlchemy's URL drops an empty value, so the query string is read here).
    if "options" not in parse_qs(urlsplit(url).query, keep_blank_values=True):
        connect_args["options"] = SERVER_OPTIONS
    engine = create_engine(url, pool_size=5, max_overflow=10, connect_args=connect_args)
    _ping_when_idle(engine)
    return engine


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
