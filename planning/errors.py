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


class DraftInvalid(PlanningError):
    """A publish of a draft whose validation has errors; names them."""


class DraftOutdated(PlanningError):
    """The town's boundaries changed since the draft was made: publishing it would undo that
    change unseen."""


class InvalidEffectiveTime(PlanningError):
    """An effective time in the past (cases received since were routed on the old
    boundaries) or without a time zone."""


class VillageNotFound(PlanningError):
    """No village grid of that code in the draft (planning/proposals.py)."""


class InvalidProposal(PlanningError):
    """A proposal asked for what cannot be asked: bounds below 1 or the wrong way round, a
    village with no residential land (no service grid)."""


class ProposalImpossible(PlanningError):
    """No split of the village's households fits the bounds: too few households, no whole
    number of grids between them, one address holding more than the maximum, more grids than a
    proposal makes, or none found."""
