"""Errors of the boundaries package: one base class, one subclass per thing that can go wrong.

Each message is one line that names the offending value and, where there is one, the option
that fixes it; the CLI prints it as is and exits 2, the web layer maps the classes to statuses.
"""

from __future__ import annotations

from db.errors import GridgovError


class BoundaryError(GridgovError):
    """Base of every error the boundaries package raises for input it refuses."""


class UnreadableFile(BoundaryError):
    """The file does not exist, or no GDAL driver can read it."""


class UnsupportedFormat(BoundaryError):
    """The extension names no format we can write (export) or read."""


class UnknownLayer(BoundaryError):
    """`--layer` names no layer of the file, or the file has several and none was chosen."""


class UnknownLevel(BoundaryError):
    """A level other than zone, admin, regional or service (or no rows of it in the file)."""


class MissingField(BoundaryError):
    """A field named by --code-field, --name-field or --parent-field is not in the file."""


class MissingCRS(BoundaryError):
    """The file declares no CRS and --source-crs was not given."""


class BadCRS(BoundaryError):
    """--source-crs is not a CRS, or the coordinates cannot be in the CRS the file claims."""


class EmptyFile(BoundaryError):
    """The file (or the chosen layer and level) has no features."""


class RefusedFeatures(BoundaryError):
    """Some features cannot be imported (empty, not polygonal, no code, duplicate code)."""

    def __init__(self, message: str, refusals: list[str]):
        super().__init__(message, refusals)
        self.refusals = refusals


class InvalidOption(BoundaryError):
    """A command option has a value that cannot be used (e.g. a town code too long)."""


class OutsideCoverage(BoundaryError):
    """No grid covers the point; names the nearest grid and its distance in metres."""

    def __init__(
        self,
        lon: float,
        lat: float,
        nearest_code: str | None,
        nearest_name: str | None,
        nearest_level: str | None,
        distance_m: float | None,
    ):
        self.lon, self.lat = lon, lat
        self.nearest_code = nearest_code
        self.nearest_name = nearest_name
        self.nearest_level = nearest_level
        self.distance_m = distance_m
        if nearest_code is None:
            message = f"the point ({lon:.7f}, {lat:.7f}) is outside coverage: there are no grids"
        else:
            message = (
                f"the point ({lon:.7f}, {lat:.7f}) is outside every grid; the nearest is "
                f"{nearest_name} ({nearest_code}, {nearest_level}), {distance_m:.0f} m away"
            )
        nearest = {"code": nearest_code, "name": nearest_name, "level": nearest_level}
        super().__init__(message, {"nearest": nearest, "distance_m": distance_m})


class VersionNotFound(BoundaryError):
    """No boundary version has that number."""


class VersionsOfDifferentTowns(BoundaryError):
    """Two versions compared are of different towns."""


class TownNotFound(BoundaryError):
    """No town has that 9-digit code; details name the code asked for."""
