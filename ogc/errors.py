"""Errors of the OGC API: one base class, one subclass per refusal.

web/errors.py maps each to its status and code (one table for the whole service); web/ogc.py
answers them in the OGC exception shape, ``{"code", "description"}``. Each message names the
offending value.
"""

from __future__ import annotations

from db.errors import GridgovError


class OgcError(GridgovError):
    """A request of the OGC API that cannot be answered as asked."""


class UnknownParameter(OgcError):
    """A query parameter the resource does not define (OGC core: 400)."""


class RepeatedParameter(OgcError):
    """A query parameter given more than once."""


class InvalidBbox(OgcError):
    """``bbox`` is not four numbers minx,miny,maxx,maxy in CRS84 degrees."""


class Bbox3DNotSupported(OgcError):
    """``bbox`` with six numbers: our features have no height to compare with."""


class InvalidDatetime(OgcError):
    """``datetime`` is not an RFC 3339 instant, date or interval, or ends before it starts."""


class InvalidLimit(OgcError):
    """``limit`` is not a whole number of at least 1."""


class InvalidOffset(OgcError):
    """``offset`` is not a whole number of at least 0."""


class UnsupportedFormat(OgcError):
    """``f`` names a format other than json."""


class NotAcceptable(OgcError):
    """The Accept header allows none of the media types the resource has."""


class CollectionNotFound(OgcError):
    """No collection of that id."""


class FeatureNotFound(OgcError):
    """No feature of that id in the collection (for public_cases: none the board shows)."""
