"""Errors of the cases package: one base class, one subclass per thing that can go wrong.

Each carries a one-line message for the user (naming the offending value) and, where it
helps, ``details`` (valid values, the nearest grid, per-field messages). The web layer maps
the classes to HTTP statuses in one table (web/errors.py).
"""

from __future__ import annotations

from db.errors import GridgovError


class CaseError(GridgovError):
    """Base of every error raised for a request the cases package refuses."""


class UnknownCategory(CaseError):
    """The category code is not in the categories table; details list the valid codes."""


class OutsideCoverage(CaseError):
    """The case's point lies outside every town we cover; details name the nearest grid."""


class AddressNotFound(CaseError):
    """The address text matched nothing in the standard address base."""


class IdempotencyKeyReused(CaseError):
    """The Idempotency-Key was used before with a different request body."""


class InvalidPhoto(CaseError):
    """A photo is not JPEG, PNG or WebP (by its first bytes), or is empty."""


class PhotoTooLarge(CaseError):
    """A photo is over the per-photo limit."""


class TooManyPhotos(CaseError):
    """More photos than a case may carry."""


class CaseNotFound(CaseError):
    """No case has this id."""


class BoundariesChanging(CaseError):
    """The town's boundaries were replaced again and again while a case was being routed."""


class PhotoNotFound(CaseError):
    """The case has no photo with this id."""


class PersonNotFound(CaseError):
    """No person has this id."""


class PersonOffDuty(CaseError):
    """A case cannot be given to a person who is off duty."""


class CaseClosed(CaseError):
    """The case is closed, evaluated or voided: it can no longer be reassigned."""


class AlreadyAssigned(CaseError):
    """The case is already assigned to that person."""


class HotspotError(CaseError):
    """The hot-spot analysis cannot run as asked (bad cell size, unreadable file, no points, …)."""


class TooManyCells(HotspotError):
    """The cell size is too small for the area: the work would exceed the bound
    (cases.hotspots.MAX_CELL_PERMUTATIONS); details give cells, max_cells, min_cell_size_m."""


class BulkError(CaseError):
    """A point file or option that cannot be routed or imported; the message is one line."""


# -- the workflow (cases/workflow.py, cases/transitions.py) ------------------------------------


class TransitionError(CaseError):
    """A workflow action refused; details say the case's state and what may be done."""


class UnknownAction(TransitionError):
    """The action is not one of the machine's; details list the valid ones."""


class TransitionNotAllowed(TransitionError):
    """The action cannot be taken from the case's state; details list the actions this actor
    may take now."""


class OutsideScope(TransitionError):
    """The actor's role, level or scope does not reach this case for this action."""


class StaleVersion(TransitionError):
    """The case changed since the version the caller named; details give the current state
    and version."""


class ReasonRequired(TransitionError):
    """The action needs a reason (the note) and none was given."""


class NoteTooLong(TransitionError):
    """The note is over the limit (cases.workflow.MAX_NOTE characters)."""


class InvalidTarget(TransitionError):
    """The action's ``to`` is missing or names nothing valid (a person, a department, a date,
    a rating, a number of days, a case)."""


class CaseVoided(TransitionError):
    """The case is voided: nothing more can happen to it."""


class ReopenTooLate(TransitionError):
    """The rating was given more than cases.workflow.REOPEN_DAYS days ago."""


class ReopenNotDissatisfied(TransitionError):
    """Only a 不满意 (dissatisfied) rating reopens a case."""


class ExtensionPending(TransitionError):
    """An extension is already waiting for the level above."""


class NoExtensionPending(TransitionError):
    """There is no extension request to approve or refuse."""


class AlreadyApplied(TransitionError):
    """This account applied a transition with this Idempotency-Key before (a phone's queued
    action sent again): details give the event written the first time and the case's status
    and version now. Nothing is written."""


class TransitionKeyReused(IdempotencyKeyReused):
    """This account used the Idempotency-Key before for another action or case."""


class TakenAtInFuture(TransitionError):
    """``taken_at`` lies ahead of the server's clock by more than the allowed skew."""


class TakenAtTooOld(TransitionError):
    """``taken_at`` lies further back than a phone may keep an action queued."""


class BoardWindowError(CaseError):
    """The public board was asked for days outside its window (the last 90 days), or for a
    window that ends before it starts; details give the earliest and latest day allowed."""


class RatingError(CaseError):
    """A rating link (``/rate/<token>``, cases/rating.py) that cannot be used."""


class RatingNotFound(RatingError):
    """No rating link has this token (never issued, or mistyped)."""


class RatingUsed(RatingError):
    """The rating link was used already: a link rates its case once."""


class RatingExpired(RatingError):
    """The rating link is past its 30 days."""


class RatingFormRefused(RatingError):
    """The rating form did not come from the rating page itself (its form nonce is missing or
    differs from the page's cookie): a cross-site post, or a page kept open too long."""


class CaseAlreadyRated(RatingError):
    """The case was rated another way meanwhile (the village operator on site)."""


class ScoresWindowError(CaseError):
    """The scores' window (``from``/``until``) is empty or reversed."""


class StatsWindowError(CaseError):
    """A statistics window (``since``/``until``, cases/stats.py) names a day outside the years
    it may, or ends before it starts; ``details`` names the field, as a query's refusals do."""

    def __init__(self, message: str, field: str):
        super().__init__(message, [{"field": field, "message": message}])
        self.field = field


class UnreadableImage(CaseError):
    """A stored photo that cannot be decoded, so its metadata cannot be removed for the
    public board (cases/publication.py public_image); the web layer answers 404."""
