"""Per-request database sessions, opened lazily and closed at the end of the request."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.session import database_url, engine_for


def engine() -> Engine:
    url = current_app.config.get("_RESOLVED_DATABASE_URL")
    if url is None:
        url = database_url({"DATABASE_URL": current_app.config.get("DATABASE_URL")})
        current_app.config["_RESOLVED_DATABASE_URL"] = url
    return engine_for(url)


def session() -> Session:
    if "db_session" not in g:
        g.db_session = Session(engine(), expire_on_commit=False)
    return g.db_session


def _close(exc: BaseException | None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        if exc is not None:
            s.rollback()
        s.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close)
