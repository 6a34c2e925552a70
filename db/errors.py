"""The base of the packages' errors, as db/base.py is the base of their models.

Each package (boundaries, cases, tiles, …) derives its one base error from ``GridgovError``,
with a subclass per thing that can go wrong (STYLE.md, "Errors"). web/errors.py maps them to
HTTP statuses in one table; db/cli_support.py turns them into a command's one-line refusal.
"""

from __future__ import annotations

from typing import Any


class GridgovError(Exception):
    """A refusal: ``message`` is one line for the user that names the offending value;
    ``details`` (optional) says more to a program (valid values, the nearest grid, per-field
    messages)."""

    def __init__(self, message: str, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details
