"""Errors of the Open311 interface: one base class, one subclass per thing that can go wrong.

``message`` is the one line Open311's error format carries as ``description``; ``details``,
when a request has several problems, lists one description each (Open311 answers them as
several ``<error>`` elements). web/errors.py maps the classes to their HTTP status: 404 for
what does not exist, 403 for a bad ``api_key``, 400 for the rest, as the spec asks.
"""

from __future__ import annotations

from db.errors import GridgovError


class Open311Error(GridgovError):
    """Base of every refusal of the Open311 interface."""


class InvalidRequest(Open311Error):
    """A parameter missing or not valid; details list one description per problem."""


class MissingLocation(Open311Error):
    """A POST without lat and long, nor address_string."""


class UnknownService(Open311Error):
    """The service_code is not a category of ours."""


class UnknownJurisdiction(Open311Error):
    """The jurisdiction_id is not the code of a town in the database."""


class JurisdictionRequired(Open311Error):
    """The database holds several towns and the request named none."""


class RequestNotFound(Open311Error):
    """No service request (case) has this id in the jurisdiction."""


class InvalidApiKey(Open311Error):
    """The api_key is unknown, expired or revoked, or its account is disabled (an account
    whose role may not report is accounts.errors.Forbidden, 403 as well)."""


class UnknownFormat(Open311Error):
    """A resource asked for in a format other than xml or json."""
