"""Errors of the boundaries package: one base class, one subclass per thing that can go wrong.

Each message is one line that names the offending value and, where there is one, the option
that fixes it; the CLI prints it as is and exits 2, the web layer maps the classes to statuses.
"""

from __future__ import annotations


class BoundaryError(Exception):
    """Base of every error raised for bad boundary input; the message is for the user."""


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
        super().__init__(message)
        self.refusals = refusals


class InvalidOption(BoundaryError):
    """A command option has a value that cannot be used (e.g. a town code too long)."""
