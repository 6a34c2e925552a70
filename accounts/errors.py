"""Errors of the accounts package: one base class, one subclass per thing that can go wrong.

web/errors.py maps each to its HTTP status; db/cli_support.py makes them a command's one-line
refusal.
"""

from __future__ import annotations

from db.errors import GridgovError


class AccountError(GridgovError):
    """Base of every refusal of the accounts package."""


class UnknownRole(AccountError):
    """The role is not one of accounts.actor.ROLES; details list them."""


class UnknownScope(AccountError):
    """The scope code names no town, zone, village or department."""


class UnknownPerson(AccountError):
    """The person id is not in ``people``, or the person cannot hold this role's account."""


class InvalidName(AccountError):
    """An account name that is empty, too long or holds spaces."""


class AccountExists(AccountError):
    """An account of that name exists already."""


class AccountNotFound(AccountError):
    """No account of that name."""


class NotAuthenticated(AccountError):
    """No credentials, or credentials that are unknown, expired, revoked or disabled."""


class BadCredentials(AccountError):
    """Sign-in with a wrong name or password (one message for both)."""


class AccountLocked(AccountError):
    """Too many failed sign-ins in a row: the account refuses every sign-in for a while;
    details carry ``retry_after`` (seconds)."""


class Forbidden(AccountError):
    """The account's role may not use this route."""


class OutOfScope(AccountError):
    """The thing asked for lies outside the account's scope."""


class CsrfFailed(AccountError):
    """A cookie-authenticated unsafe request without the session's CSRF token."""


class InvalidAccessReason(AccountError):
    """The reason given to read a person's full record is blank, too short or too long."""
