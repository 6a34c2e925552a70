"""``gridgov backup`` and ``gridgov restore``: the database (and so the photos, which live in it)
into one archive (backup/archive.py) and back.

**Backup.** One transaction at REPEATABLE READ exports its snapshot; the tables are counted in
it and pg_dump (custom format) reads the same snapshot, so the manifest's counts are the dump's
rows, whatever commits meanwhile. The server keeps running; a backup locks nothing but what
pg_dump's ACCESS SHARE locks (no DDL meanwhile).

**Restore.** The archive is checked whole first (manifest, size, SHA-256, pg_restore can read
its table of contents, a migration this code knows), then the database (PostGIS there, and
empty unless ``replace``). Then one transaction, through psql --single-transaction: with
``replace``, gridgov's objects are dropped (backup.sql ``drop_app_objects``); the dump's script
from pg_restore runs; and the table counts are checked against the manifest (``check_counts``).
Any error rolls all of it back, so the database is as it was: nothing half-restored. We pipe
pg_restore's script into psql ourselves (instead of ``pg_restore --single-transaction``) so
that the dropping and the count check share the restore's transaction, and so that a
pg_restore that fails half-way kills psql before it could COMMIT what it had been given.

The restore runs as the application's role, which is what GRIDGOV_DATABASE_URL names and which
cannot create PostGIS (only a superuser may): objects come owned by that role (--no-owner),
and the comments on extensions, which only their owner may set, are left out.

The PostgreSQL programs are those of the managed cluster (db.cluster.pg_tool), PostgreSQL 15.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from backup.archive import (
    DUMP,
    FORMAT,
    FORMAT_VERSION,
    archive_path,
    file_digest,
    opened_archive,
    write_archive,
)
from backup.errors import (
    ArchiveCorrupt,
    ArchiveTooNew,
    DatabaseNotEmpty,
    PostgisMissing,
    ToolFailed,
)
from db.cluster import ClusterError, pg_tool
from db.migrate import MIGRATIONS_DIR
from db.session import engine_for, session_scope
from db.statements import Statements

SQL = Statements("backup", "backup.sql")
PHOTO_TABLES = ("case_photos", "visit_photos")
# TOC entries of a dump the application's role cannot restore: the comment on an extension
# (only its owner, the superuser for PostGIS, may set it; CREATE EXTENSION brings it anyway)
_SKIPPED_ENTRIES = (" COMMENT - EXTENSION ",)

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# -- backup ----------------------------------------------------------------------------------


def backup_database(url: str, path: Path, report: Report = _quiet) -> tuple[Path, dict[str, Any]]:
    """Back up the database at ``url`` into a new archive at ``path`` (or in it, when it is a
    directory); returns the archive's path and its manifest."""
    dbname = make_url(url).database or "gridgov"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = archive_path(Path(path), dbname, stamp)
    pg_dump = _tool("pg_dump")
    with session_scope(url) as session, tempfile.TemporaryDirectory(
            prefix=".gridgov-backup-", dir=path.parent) as tmp:
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        snapshot = SQL.run(session, "export_snapshot").scalar_one()
        tables = [dict(r) for r in SQL.rows(session, "tables")]
        counts = {t["name"]: _count(session, t["name"]) for t in tables}
        revision = (SQL.run(session, "revision").scalar_one_or_none()
                    if SQL.run(session, "has_alembic_version").scalar_one() else None)
        left_out = list(SQL.run(session, "extension_tables").scalars())
        server = SQL.run(session, "server_version").scalar_one()
        report(f"dumping {dbname}: {len(tables)} tables, {sum(counts.values()):,} rows, "
               f"schema at revision {revision or '(none)'}")
        dump_file = Path(tmp) / DUMP
        dsn, env = _libpq(url)
        _run([str(pg_dump), "--format=custom", f"--snapshot={snapshot}", f"--file={dump_file}",
              *(f"--exclude-table-data={name}" for name in left_out), f"--dbname={dsn}"],
             env, "pg_dump")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": dbname,
            "server_version_num": server,
            "pg_dump": _version(pg_dump),
            "revision": revision,
            "tables": counts,
            "rows": sum(counts.values()),
            "photos": {"stored": "in the database, so in the dump",
                       **{t: counts[t] for t in PHOTO_TABLES if t in counts}},
            "extension_tables_left_out": left_out,
            "dump": {"name": DUMP, "bytes": dump_file.stat().st_size,
                     "sha256": file_digest(dump_file)},
        }
        write_archive(path, manifest, dump_file)
    report(f"wrote {path} ({manifest['dump']['bytes']:,} bytes)")
    return path, manifest


def _count(session: Session, table: str) -> int:
    # the name comes from the catalogue (backup.sql "tables"), quoted as an identifier
    quoted = session.get_bind().dialect.identifier_preparer.quote(table)
    return session.execute(text(f"SELECT count(*) FROM public.{quoted}")).scalar_one()


# -- restore ---------------------------------------------------------------------------------


def restore_database(url: str, path: Path, *, replace: bool = False,
                     report: Report = _quiet) -> dict[str, Any]:
    """Restore the archive at ``path`` into the database at ``url``, in one transaction;
    returns the archive's manifest. Refuses, writing nothing, an archive that is missing,
    damaged or of a newer schema, and a database that is not empty unless ``replace``."""
    pg_restore, psql = _tool("pg_restore"), _tool("psql")
    path = Path(path)
    with opened_archive(path) as (manifest, dump_file):
        _check_revision(path, manifest.get("revision"))
        listing = _run([str(pg_restore), "--list", str(dump_file)], None, "pg_restore",
                       corrupt=path)
        entries = "".join(line for line in listing.splitlines(keepends=True)
                          if not any(s in line for s in _SKIPPED_ENTRIES))
        _check_target(url, replace)
        report(f"restoring {path.name}: {len(manifest['tables'])} tables, "
               f"{manifest.get('rows', sum(manifest['tables'].values())):,} rows, schema at "
               f"revision {manifest.get('revision') or '(none)'}"
               + (" (replacing everything in the database)" if replace else ""))
        list_file = dump_file.with_suffix(".list")
        list_file.write_text(entries, encoding="utf-8")
        _restore(url, pg_restore, psql, dump_file, list_file, manifest["tables"], replace)
    engine_for(url).dispose()  # pooled connections may hold plans of the dropped tables
    with session_scope(url) as session:
        # pg_restore brings no planner statistics; without them the first queries plan blind
        session.execute(text("ANALYZE"))
    report("restored; every table has the rows the archive counted")
    revision = manifest.get("revision")
    if revision is not None and revision != ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head():
        report(f"the schema is at migration {revision}, older than this gridgov's: "
               "run `gridgov db upgrade`")
    return manifest


def _check_revision(path: Path, revision: str | None) -> None:
    """Refuse an archive whose schema is at a migration this code does not have."""
    if revision is None:
        return
    known = {r.revision for r in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}
    if revision not in known:
        raise ArchiveTooNew(
            f"{path} holds a schema at migration {revision}, which this gridgov does not know "
            "(a newer gridgov made it): restore it with that version of gridgov",
            {"revision": revision})


def _check_target(url: str, replace: bool) -> None:
    with session_scope(url) as session:
        if not SQL.run(session, "has_postgis").scalar_one():
            dbname = make_url(url).database
            raise PostgisMissing(
                f"database {dbname} has no PostGIS, and only a superuser may create it: "
                f"run CREATE EXTENSION postgis in it as one (`gridgov db start` does for the "
                "managed cluster)", {"database": dbname})
        tables = [r["name"] for r in SQL.rows(session, "tables")]
        if tables and not replace:
            has_cases = "cases" in tables
            cases = _count(session, "cases") if has_cases else 0
            dbname = make_url(url).database
            raise DatabaseNotEmpty(
                f"database {dbname} is not empty ({len(tables)} tables"
                + (f", {cases:,} cases" if has_cases else "")
                + "): restore into an empty database, or give --replace to replace everything "
                "in it", {"database": dbname, "tables": len(tables)})


def _restore(url: str, pg_restore: Path, psql: Path, dump_file: Path, list_file: Path,
             counts: dict[str, int], replace: bool) -> None:
    """pg_restore's script into psql, in one transaction with the dropping before it and the
    count check after it (see the module docstring)."""
    dsn, env = _libpq(url)
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        # -X: no ~/.psqlrc; -q and -o /dev/null: nothing but errors; -1: one transaction
        sink = subprocess.Popen(
            [str(psql), "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-o", os.devnull, "-f", "-",
             f"--dbname={dsn}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err, env=env)
        assert sink.stdin is not None
        source = subprocess.Popen(
            [str(pg_restore), "--no-owner", f"--use-list={list_file}", "--file=-",
             str(dump_file)], stdout=subprocess.PIPE, stderr=restore_err, env=env)
        assert source.stdout is not None
        try:
            fed = _feed(sink.stdin, source.stdout, replace, counts)
            if not fed:
                source.kill()  # else it would wait for ever for us to read the rest
            restored = source.wait() == 0
            if not fed or not restored:
                # psql must not reach the end of its input: it would COMMIT what it had.
                # Killed, its connection drops and the server rolls the transaction back.
                sink.kill()
        finally:
            source.kill()  # a no-op when it has ended
            source.wait()
            source.stdout.close()
            _close(sink.stdin)
            sink.wait()
        if fed and not restored:
            raise ToolFailed(f"pg_restore failed, nothing was restored: "
                             f"{_first_error(restore_err)}")
        if sink.returncode != 0:
            raise ToolFailed(f"the restore failed and was rolled back, the database is as it "
                             f"was: {_first_error(psql_err)}")


def _close(stream: IO[bytes]) -> None:
    try:
        stream.close()
    except BrokenPipeError:  # psql has gone; what was left unflushed does not matter
        pass


def _feed(sink: IO[bytes], source: IO[bytes], replace: bool, counts: dict[str, int]) -> bool:
    """Write the restore's transaction to psql; False when psql stopped reading (an error)."""
    try:
        if replace:
            sink.write(SQL["drop_app_objects"].encode("utf-8"))
        while chunk := source.read(1 << 16):
            sink.write(chunk)
        # the names were checked against backup/archive.py's _TABLE_NAME: no quote in them
        setting = json.dumps(counts).replace("'", "''")
        sink.write(f"\nSELECT pg_catalog.set_config('gridgov.restore_counts', '{setting}', "
                   "true);\n".encode())
        sink.write(SQL["check_counts"].encode("utf-8"))
        sink.flush()
    except BrokenPipeError:
        return False
    return True


# -- the PostgreSQL programs -----------------------------------------------------------------


def _tool(name: str) -> Path:
    try:
        return pg_tool(name)
    except ClusterError as exc:
        raise ToolFailed(str(exc)) from exc


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and an environment carrying it (PGPASSWORD), so the
    password is never on a command line that ``ps`` shows."""
    u = make_url(url)
    dsn = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = dict(os.environ)
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    return dsn, env


def _run(argv: list[str], env: dict[str, str] | None, what: str,
         corrupt: Path | None = None) -> str:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        message = _first_line(proc.stderr or proc.stdout)
        if corrupt is not None:
            raise ArchiveCorrupt(f"{corrupt}: pg_restore cannot read its dump ({message})",
                                 {"path": str(corrupt)})
        raise ToolFailed(f"{what} failed: {message}")
    return proc.stdout


def _version(tool: Path) -> str:
    return subprocess.run([str(tool), "--version"], capture_output=True, text=True).stdout.strip()


def _first_error(stream: IO[bytes]) -> str:
    """The first error a program wrote, without psql's "psql:<stdin>:123:" before it."""
    stream.seek(0)
    lines = stream.read().decode("utf-8", "replace").splitlines()
    errors = [line for line in lines if "ERROR" in line or "error" in line]
    first = _first_line("\n".join(errors or lines)) or "(no message)"
    return " ".join(re.sub(r"^psql:[^:]*:\d+:\s*", "", first).split())


def _first_line(text_: str) -> str:
    return next((line.strip() for line in text_.splitlines() if line.strip()), "")
