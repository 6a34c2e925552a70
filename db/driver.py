"""Statements run on the psycopg connection under a SQLAlchemy session, for the hot path.

Why: the intake runs a few hundred times a second, and each statement through SQLAlchemy's
``Session.execute`` costs about as much Python as the statement costs PostgreSQL (measured on
a POST: the point lookup spent 1.2 of its 1.9 ms of CPU in SQLAlchemy's execution and result
machinery). On the session's own connection, in its transaction, psycopg binds the values and
prepares the statement after a few executions; nothing else changes.
"""

from __future__ import annotations

import re
from functools import cache

import psycopg
from sqlalchemy.orm import Session

_BIND = re.compile(r"(?<![:\w]):(\w+)")


@cache
def driver_sql(sql: str) -> str:
    """SQLAlchemy's ``:name`` placeholders as psycopg's ``%(name)s`` (``%`` escaped)."""
    return _BIND.sub(r"%(\1)s", sql.replace("%", "%%"))


def driver_connection(session: Session) -> psycopg.Connection:
    """The psycopg connection under ``session``, in the session's transaction."""
    return session.connection().connection.driver_connection
