"""Named SQL statements kept in a package's ``.sql`` file, each after a ``-- name: NAME`` line.

Hand-written statements live beside the module that runs them (cases/supervision.sql,
planning/drafts.sql, …); this reads such a file once per process.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def named_statements(package: str, filename: str) -> dict[str, str]:
    """``{name: statement}`` of ``filename`` in ``package``: each statement runs from its
    ``-- name:`` line to the next one (comments and the final semicolon included)."""
    raw = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    return {chunk.partition("\n")[0].strip(): chunk.partition("\n")[2]
            for chunk in raw.split("-- name: ")[1:]}
