"""``gridgov backup PATH`` and ``gridgov restore PATH``: thin, over backup/service.py.

A refusal (a missing or damaged archive, a newer schema, a database not empty) is one line and
exit 2, as every command's (db/cli_support.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy.exc import OperationalError

from backup.errors import BackupError
from backup.service import backup_database, restore_database
from db.cli_support import BadInput
from db.cluster import ClusterError
from db.session import database_url


def _url() -> str:
    try:
        return database_url()
    except ClusterError as exc:
        raise BadInput(str(exc)) from exc


def _refused(exc: Exception) -> BadInput:
    if isinstance(exc, OperationalError):
        return BadInput(f"cannot reach the database: {str(exc.orig).strip().splitlines()[0]}")
    return BadInput(getattr(exc, "message", None) or str(exc))


def _say(as_json: bool):
    # progress goes to stderr with --json, so that stdout is the JSON alone
    return lambda line: click.echo(line, err=as_json)


@click.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the archive's manifest as JSON.")
def backup_command(path: Path, as_json: bool) -> None:
    """Back up gridgov's database into one archive at PATH (a new file, or a new file in PATH
    when it is a directory).

    The archive is a tar of the database's dump (pg_dump, custom format; photos are kept in
    the database, so it holds them) and a manifest: the schema's migration revision, every
    table's row count, the dump's SHA-256. The server may keep running.

    \b
    Example:
      gridgov backup /srv/backups/bagong-$(date +%F).tar
      gridgov backup /srv/backups/          # names the file gridgov-<db>-<time>.tar
    """
    try:
        written, manifest = backup_database(_url(), path, report=_say(as_json))
    except (BackupError, OperationalError) as exc:
        raise _refused(exc) from exc
    if as_json:
        click.echo(json.dumps({"path": str(written), **manifest}, ensure_ascii=False))


@click.command("restore")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--replace", is_flag=True,
              help="Replace everything in a database that is not empty (else refused).")
@click.option("--json", "as_json", is_flag=True, help="Print the archive's manifest as JSON.")
def restore_command(path: Path, replace: bool, as_json: bool) -> None:
    """Restore an archive of `gridgov backup` into gridgov's database, in one transaction.

    The database must have PostGIS and be empty, or --replace must be given; an archive of a
    newer schema than this gridgov knows is refused. Any failure rolls the whole restore
    back: the database is left as it was. Stop the server and the worker first.

    \b
    Example:
      gridgov restore /srv/backups/bagong-2026-11-30.tar
      gridgov restore /srv/backups/bagong-2026-11-30.tar --replace
    """
    try:
        manifest = restore_database(_url(), path, replace=replace, report=_say(as_json))
    except (BackupError, OperationalError) as exc:
        raise _refused(exc) from exc
    if as_json:
        click.echo(json.dumps(manifest, ensure_ascii=False))
