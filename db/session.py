"""Where the database is, engines (one per URL, per process) and transactional sessions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, create_engine
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


@cache
def engine_for(url: str) -> Engine:
    # connect_timeout: a health check against a host that does not answer must not hang
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args={"connect_timeout": 5}
    )


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
