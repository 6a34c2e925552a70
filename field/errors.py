"""Errors of the field package (patrol visits and compliance): one base, one subclass per
refusal; web/errors.py maps them to HTTP statuses."""

from __future__ import annotations

from db.errors import GridgovError


class FieldError(GridgovError):
    """Base of every error raised for a visit or compliance request the field package refuses."""


class PositionRequired(FieldError):
    """A check-in without the phone's position: a visit records where it was made."""


class PositionOutsideTown(FieldError):
    """The check-in's position is outside the target's town (e.g. 50 km away)."""


class TargetNotFound(FieldError):
    """No target of this type has this id (or a hazard is resolved: no longer visited)."""


class TargetOutOfScope(FieldError):
    """The target lies in a grid outside the account's scope."""


class VisitIdReused(FieldError):
    """The client's visit id was used before with a different body (or by another account)."""


class InvalidPeriod(FieldError):
    """The compliance period is not a month YYYY-MM we can count."""
