"""Errors of the emergencies package: one base, one subclass per refusal; web/errors.py maps
them to HTTP statuses."""

from __future__ import annotations

from db.errors import GridgovError


class EmergencyError(GridgovError):
    """Base of every error raised for an emergency request the package refuses."""


class AreaInvalid(EmergencyError):
    """The area is not a valid polygon (self-intersecting, unclosed, a point without a
    buffer, an unknown geometry type, …)."""


class AreaEmpty(EmergencyError):
    """The area has no extent: no coordinates, or a polygon of zero area."""


class AreaCoversNothing(EmergencyError):
    """No household, enterprise or hazard lies inside the area."""


class AreaNotFound(EmergencyError):
    """The grid or village named as the area does not exist (now)."""


class EmergencyNotFound(EmergencyError):
    """No emergency has this id (in the account's town)."""


class EmergencyClosed(EmergencyError):
    """The emergency is closed: its tasks are no longer confirmed, and it is not closed twice."""


class TaskNotFound(EmergencyError):
    """The emergency has no task of this id."""


class TaskOutOfScope(EmergencyError):
    """The task's grid is not one of the account's: only its grid's workers (and auxiliaries,
    and the village's grid leader) confirm it."""


class TaskAlreadyConfirmed(EmergencyError):
    """The task was confirmed before, by another confirmation."""


class ConfirmIdReused(EmergencyError):
    """The phone's confirmation id was used before with a different confirmation."""
