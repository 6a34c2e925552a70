"""Vector tiles from PostGIS (``ST_AsMVT``) and their cache.

``tiles.mvt`` knows the layers (an allow-list: cases, grids, zones), checks a tile address and
a layer's filters, and renders one tile with a query from the ``.sql`` files beside it.
``tiles.cache`` keeps rendered tiles in memory, per process, and drops the ones a change
touches (``tiles.cache.invalidate_point(lon, lat)`` for a case, ``invalidate_bbox`` for a
boundary edit). ``web/tiles.py`` serves them at ``/tiles/{layer}/{z}/{x}/{y}.pbf``.

Errors: every refusal is a ``TileError`` subclass carrying the offending value in
``details``; web/errors.py maps each class to an HTTP status and error code in one table.
"""

from __future__ import annotations

from db.errors import GridgovError


class TileError(GridgovError):
    """A tile request that cannot be answered as asked."""


class UnknownLayer(TileError):
    """The layer is not in the allow-list."""


class InvalidTileAddress(TileError):
    """z, x or y is not an integer."""


class TileOutOfRange(TileError):
    """z is outside 0..22, or x or y outside 0..2^z-1."""


class UnknownParameter(TileError):
    """A query parameter the layer does not take."""


class InvalidFilter(TileError):
    """A filter parameter with a value the layer cannot use."""
