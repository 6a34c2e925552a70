"""The backup archive: one tar file holding ``manifest.json`` and ``db.dump``.

``db.dump`` is pg_dump's custom format (-Fc: compressed, read back by pg_restore in any order).
``manifest.json`` says what the dump holds, so a restore can refuse an archive before touching
the database: the migration revision of the schema, the rows of every table (counted in the
snapshot pg_dump read), and the dump's size and SHA-256 — pg_restore reads a dump's table of
contents from its head, so a dump damaged further in would otherwise be found only half-way
through a restore.

Photos: gridgov keeps them in the database (``case_photos.data``, ``visit_photos.data``, so
that a photo commits with its case), not in a directory; the dump holds them, and the manifest
counts them. There is no photos directory to archive.

The tar is not compressed again: the dump is compressed already. It is written under a
temporary name beside PATH and linked into place only when complete, so a failed or
interrupted backup leaves no archive at PATH.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from backup.errors import ArchiveCorrupt, ArchiveExists, ArchiveNotFound

FORMAT = "gridgov-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = "db.dump"
_CHUNK = 1 << 20
# What a table name in a manifest may be: gridgov's own names. The restore's row check names
# tables from the manifest, so a hand-edited manifest cannot smuggle anything in.
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_REVISION = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def file_digest(path: Path) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def archive_path(path: Path, dbname: str, stamp: str) -> Path:
    """Where a backup to ``path`` goes: ``path`` itself, or a new file in it when it is a
    directory (``gridgov-<database>-<stamp>.tar``). Refuses a file that exists."""
    if path.is_dir():
        path = path / f"gridgov-{dbname}-{stamp}.tar"
    if path.exists() or path.is_symlink():
        raise ArchiveExists(f"{path} exists already; a backup never overwrites a file: "
                            "give another path", {"path": str(path)})
    if not path.parent.is_dir():
        raise ArchiveNotFound(f"{path.parent} is not a directory: the backup cannot be written "
                              "there", {"path": str(path)})
    return path


def write_archive(path: Path, manifest: dict[str, Any], dump_file: Path) -> None:
    """Write the archive at ``path`` (which must not exist) from the manifest and the dump."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(dump_file.stat().st_mtime), 0o600
            tar.addfile(info, io.BytesIO(data))
            tar.add(dump_file, arcname=DUMP, recursive=False)
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        # A hard link fails where a file appeared meanwhile, where os.replace would overwrite it
        try:
            os.link(partial, path)
        except FileExistsError as exc:
            raise ArchiveExists(f"{path} appeared while the backup was written; it was left as "
                                "it is", {"path": str(path)}) from exc
    finally:
        partial.unlink(missing_ok=True)
    os.chmod(path, 0o600)  # the dump holds personal data (phones, ID numbers, photos)


@contextmanager
def opened_archive(path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """The archive's manifest, and its dump extracted into a temporary directory (removed
    afterwards), checked against the manifest's size and SHA-256. Raises ArchiveNotFound or
    ArchiveCorrupt saying what is wrong."""
    if not path.exists():
        raise ArchiveNotFound(f"{path}: no such file", {"path": str(path)})
    if not path.is_file():
        raise ArchiveCorrupt(f"{path} is not a file: give the archive `gridgov backup` wrote",
                             {"path": str(path)})
    try:
        tar = tarfile.open(path, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise ArchiveCorrupt(f"{path} is not a gridgov backup (not a tar file: {exc})",
                             {"path": str(path)}) from exc
    with tar, TemporaryDirectory(prefix="gridgov-restore-") as tmp:
        try:
            manifest = _manifest(path, tar)
            dump_file = Path(tmp) / DUMP
            _extract_dump(path, tar, manifest, dump_file)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveCorrupt(f"{path} cannot be read to its end (truncated or damaged: "
                                 f"{exc})", {"path": str(path)}) from exc
        yield manifest, dump_file


def _member(path: Path, tar: tarfile.TarFile, name: str) -> tarfile.TarInfo:
    try:
        member = tar.getmember(name)
    except KeyError as exc:
        raise ArchiveCorrupt(f"{path} is not a gridgov backup: it has no {name}",
                             {"path": str(path), "missing": name}) from exc
    if not member.isfile():
        raise ArchiveCorrupt(f"{path}: its {name} is not a file", {"path": str(path)})
    return member


def _manifest(path: Path, tar: tarfile.TarFile) -> dict[str, Any]:
    member = _member(path, tar, MANIFEST)
    reader = tar.extractfile(member)
    assert reader is not None  # a regular file always has a reader
    try:
        manifest = json.loads(reader.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveCorrupt(f"{path}: its {MANIFEST} is not JSON ({exc})",
                             {"path": str(path)}) from exc
    problem = _manifest_problem(manifest)
    if problem:
        raise ArchiveCorrupt(f"{path}: its {MANIFEST} {problem}", {"path": str(path)})
    return manifest


def _manifest_problem(m: Any) -> str | None:
    """What is wrong with a manifest, or None."""
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        return f"is not a {FORMAT} manifest"
    if m.get("format_version") != FORMAT_VERSION:
        return (f"has format version {m.get('format_version')!r}; this gridgov reads version "
                f"{FORMAT_VERSION}")
    revision = m.get("revision")
    if revision is not None and not (isinstance(revision, str) and _REVISION.match(revision)):
        return f"names no valid migration revision ({revision!r})"
    tables = m.get("tables")
    if not isinstance(tables, dict) or not all(
            isinstance(k, str) and _TABLE_NAME.match(k) and isinstance(v, int) and v >= 0
            for k, v in tables.items()):
        return "has no valid table counts"
    dump = m.get("dump")
    if not (isinstance(dump, dict) and isinstance(dump.get("sha256"), str)
            and isinstance(dump.get("bytes"), int)):
        return "does not describe the dump (bytes, sha256)"
    return None


def _extract_dump(path: Path, tar: tarfile.TarFile, manifest: dict[str, Any], out: Path) -> None:
    member = _member(path, tar, DUMP)
    expected = manifest["dump"]
    if member.size != expected["bytes"]:
        raise ArchiveCorrupt(f"{path}: its {DUMP} has {member.size} bytes where the manifest "
                             f"says {expected['bytes']}", {"path": str(path)})
    reader = tar.extractfile(member)
    assert reader is not None
    digest = hashlib.sha256()
    with out.open("wb") as f:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            f.write(chunk)
    if digest.hexdigest() != expected["sha256"]:
        raise ArchiveCorrupt(f"{path}: its {DUMP} is damaged (SHA-256 {digest.hexdigest()[:12]}… "
                             f"where the manifest says {expected['sha256'][:12]}…)",
                             {"path": str(path)})

