"""Errors of the planning package: one class per thing a planner can get wrong (web/errors.py
maps each to its status)."""

from __future__ import annotations

from db.errors import GridgovError


class PlanningError(GridgovError):
    """Base of every error the planning package raises for a request it refuses."""


class DraftNotFound(PlanningError):
    """No draft has that id (or it is outside the account's town)."""


class DraftClosed(PlanningError):
    """The draft was published or discarded: it can be read, not edited."""


class InvalidDraftScope(PlanningError):
    """A draft's scope must be the town or one village's administrative grid."""


class RevisionRequired(PlanningError):
    """An edit without If-Match: the draft's revision it was made on."""


class StaleRevision(PlanningError):
    """The draft moved on since the revision the edit was made on; names what changed."""


class GridNotInDraft(PlanningError):
    """No grid of that code in the draft."""


class GridExists(PlanningError):
    """A new grid's code is already in the draft."""


class InvalidGridCode(PlanningError):
    """A grid code that breaks the coding rule (DOMAIN.md) or lies outside the draft's scope."""


class InvalidGridGeometry(PlanningError):
    """Not a polygon, empty, not valid, or far outside the town."""


class InvalidGridAttributes(PlanningError):
    """A level, parent, zone or person that cannot be."""


class InvalidOperation(PlanningError):
    """A split, merge, edge move or reshape that cannot be made: a line that does not cross,
    grids in different villages, grids that do not touch, a piece left in two."""
