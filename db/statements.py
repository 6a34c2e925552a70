"""Named SQL statements kept in a package's ``.sql`` file, each after a ``-- name: NAME`` line.

Hand-written statements live beside the module that runs them (cases/supervision.sql,
planning/drafts.sql, …); this reads such a file once per process. A module that runs its
statements on a session keeps one ``Statements`` of its file instead of its own wrapper.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Result
from sqlalchemy.orm import Session


@cache
def named_statements(package: str, filename: str) -> dict[str, str]:
    """``{name: statement}`` of ``filename`` in ``package``: each statement runs from its
    ``-- name:`` line to the next one (comments and the final semicolon included)."""
    raw = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    return {chunk.partition("\n")[0].strip(): chunk.partition("\n")[2]
            for chunk in raw.split("-- name: ")[1:]}


class Statements:
    """The named statements of ``filename`` in ``package``: ``SQL["name"]`` is a statement's
    text, ``SQL.run(session, "name", params)`` runs it on the session (``SQL.rows`` too, as
    mappings)."""

    def __init__(self, package: str, filename: str):
        self.package, self.filename = package, filename

    def __getitem__(self, name: str) -> str:
        return named_statements(self.package, self.filename)[name]

    def run(self, session: Session, name: str, params: dict[str, Any] | None = None) -> Result:
        return session.execute(text(self[name]), params or {})

    def rows(self, session: Session, name: str, params: dict[str, Any] | None = None):
        return self.run(session, name, params).mappings()
