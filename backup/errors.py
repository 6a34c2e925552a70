"""Errors of the backup package: one base class, one subclass per thing that can go wrong.

Each message is one line naming the archive or database concerned and, where there is one,
what to do about it; the CLI prints it and exits 2 (db/cli_support.py). Nothing is written
to the database, and no archive is left at the path, when one of these is raised.
"""

from __future__ import annotations

from db.errors import GridgovError


class BackupError(GridgovError):
    """Base of every error of backups and restores."""


class ArchiveExists(BackupError):
    """`gridgov backup PATH`: a file is already there (a backup never overwrites one)."""


class ArchiveNotFound(BackupError):
    """`gridgov restore PATH`: no such file."""


class ArchiveCorrupt(BackupError):
    """Not a gridgov archive, a member missing, a manifest that does not read, a dump whose
    checksum differs from the manifest's, or a dump pg_restore cannot read."""


class ArchiveTooNew(BackupError):
    """The archive's schema is at a migration this code does not know (a newer gridgov made it)."""


class DatabaseNotEmpty(BackupError):
    """The database to restore into holds tables already, and --replace was not given."""


class PostgisMissing(BackupError):
    """The database to restore into has no PostGIS, which only a superuser may create."""


class ToolFailed(BackupError):
    """pg_dump, pg_restore or psql is missing, or failed (its first line of error is said)."""
