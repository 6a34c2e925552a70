"""Statements run on the psycopg connection under a SQLAlchemy session, for the hot path.

Why: the intake runs a few hundred times a second, and each statement through SQLAlchemy's
``Session.execute`` costs about as much Python as the statement costs PostgreSQL (measured on
a POST: the point lookup spent 1.2 of its 1.9 ms of CPU in SQLAlchemy's execution and result
machinery). On the session's own connection, in its transaction, psycopg binds the values and
prepares the statement after a few executions; nothing else changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from sqlalchemy.orm import Session

# JSON on the hot path is read and written with orjson (C) rather than the standard library's
# json: psycopg's json/jsonb values (the point lookup answers one object), the intake's created
# event, and each server's hub reading every case's live notice and writing it once for its
# streams (web/live.py). 4.476 -> 4.283 M instructions of the app a report, the three together
# (bench/app_instructions.py, 2026-12-02). Not the request bodies: orjson refuses documents that
# json.loads takes (NaN, integers past 64 bits, lone surrogates), and the API's answers to
# them would change
set_json_loads(orjson.loads)

_BIND = re.compile(r"(?<![:\w]):(\w+)")
# a line that is only a comment (our .sql files explain their statements at length)
_COMMENT_LINE = re.compile(r"^[ \t]*--.*\n?", re.MULTILINE)


@cache
def driver_sql(sql: str) -> str:
    """SQLAlchemy's ``:name`` placeholders as psycopg's ``%(name)s`` (``%`` escaped), without
    the lines that are only comments.

    Why without them: psycopg converts a statement's placeholders once and remembers it only
    for statements up to 4,096 characters (psycopg._queries.MAX_CACHED_STATEMENT_LENGTH); the
    intake's insert, 5,821 with its comments, was converted again on every POST (about 0.1 ms
    of the worker's CPU each). A line that is only a comment cannot be inside a string literal
    of these statements: none of them spans lines."""
    return _BIND.sub(r"%(\1)s", _COMMENT_LINE.sub("", sql).replace("%", "%%"))


def driver_connection(session: Session) -> psycopg.Connection:
    """The psycopg connection under ``session``, in the session's transaction."""
    return session.connection().connection.driver_connection


def array_literal(values: Sequence[str | datetime | None]) -> str:
    """``values`` as PostgreSQL's text form of an array (``{"a","b",NULL}``), to be bound as
    one text parameter and cast in the statement (``CAST(:x AS timestamptz[])``).

    Why not the list itself: psycopg dumps a list with its Python ListDumper, which finds each
    element's type and dumper again on every call — the intake's seven clock arrays cost 0.38
    M of the 5.4 M instructions the app spent on a report (bench/app_instructions.py); a string
    is dumped in C. Strings are quoted and escaped (``\\`` and ``"``), datetimes written in ISO
    8601 with their offset, which timestamptz reads."""
    parts = []
    for value in values:
        if value is None:
            parts.append("NULL")
            continue
        text = value.isoformat() if isinstance(value, datetime) else value
        parts.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"
