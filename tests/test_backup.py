"""`gridgov backup PATH` and `gridgov restore PATH`: a round trip of the demo that gives back
every table row for row (and every photo byte for byte), and every bad archive refused with one
line, exit 2 and nothing written — a restore that fails half-way included."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from backup.service import backup_database
from tests.accounts_support import bearer
from tests.test_intake_api import JPEG, PNG, case_body, leaf_with_one_worker
from web import create_app

_names = iter(range(10**6))


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _rows(url: str, statement, params=()) -> list[tuple]:
    with psycopg.connect(_plain(url)) as conn:
        return conn.execute(statement, params).fetchall()


def _exec(url: str, statements: str) -> None:
    with psycopg.connect(_plain(url)) as conn:
        conn.execute(statements)


# a month partition of cases or case_events (migration 0060): its rows are counted, and
# compared, in its parent's
_PARTITION = ("(SELECT c.relispartition FROM pg_class c "
              "WHERE c.oid = to_regclass('public.' || quote_ident({0}table_name)))")


def fingerprint(url: str) -> dict:
    """Every table of the database (PostGIS's spatial_ref_sys too): its row count and an MD5 of
    its rows as text, ordered by primary key; the sequences' values; and the schema's indexes,
    constraints, triggers, views and functions. Read through information_schema and the
    catalogue views, not through backup.sql."""
    tables = _rows(url, """
        SELECT t.table_name,
               coalesce(array_agg(k.column_name::text ORDER BY k.ordinal_position)
                        FILTER (WHERE k.column_name IS NOT NULL), '{}')
        FROM information_schema.tables t
        LEFT JOIN information_schema.table_constraints c
               ON c.table_schema = t.table_schema AND c.table_name = t.table_name
              AND c.constraint_type = 'PRIMARY KEY'
        LEFT JOIN information_schema.key_column_usage k
               ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
        WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND NOT PARTITION
        GROUP BY t.table_name ORDER BY t.table_name""".replace("PARTITION", _PARTITION.format("t.")))
    out: dict = {"tables": {}}
    for name, key in tables:
        order = sql.SQL(", ").join(map(sql.Identifier, key)) if key else sql.SQL("t::text")
        statement = sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {}), '')) "
            "FROM public.{} AS t").format(order, sql.Identifier(name))
        out["tables"][name] = _rows(url, statement)[0]
    out["sequences"] = _rows(url, "SELECT sequencename, last_value FROM pg_sequences "
                                  "WHERE schemaname = 'public' ORDER BY 1")
    out["indexes"] = _definitions(_rows(url, "SELECT indexname, indexdef FROM pg_indexes "
                                             "WHERE schemaname = 'public' ORDER BY 1"))
    out["constraints"] = _definitions(_rows(
        url, "SELECT conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid) "
             "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1"))
    out["triggers"] = _rows(url, "SELECT event_object_table, trigger_name, event_manipulation, "
                                 "action_statement FROM information_schema.triggers "
                                 "ORDER BY 1, 2, 3")
    out["views"] = _definitions(_rows(url, "SELECT viewname, definition FROM pg_views "
                                           "WHERE schemaname = 'public' ORDER BY 1"))
    out["functions"] = _rows(url, "SELECT p.oid::regprocedure::text, md5(p.prosrc) FROM pg_proc p "
                                  "WHERE p.pronamespace = 'public'::regnamespace "
                                  "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid "
                                  "AND d.deptype = 'e') ORDER BY 1")
    return out


_CAST = re.compile(r"::[a-z ]+(\[\])?|[()\s]")


def _definitions(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Definitions without their casts and parentheses. A restore makes indexes, constraints
    and views from their printed definitions, and PostgreSQL prints a parsed `status NOT IN
    ('closed', …)` on a varchar column as `<> ALL ((ARRAY['closed'::character varying,
    …])::text[])` the first time and `<> ALL (ARRAY[('closed'::character varying)::text, …])`
    after, which mean the same."""
    return [(name, _CAST.sub("", definition)) for name, definition in rows]


def table_names(url: str) -> list[str]:
    return [r[0] for r in _rows(url, "SELECT table_name FROM information_schema.tables "
                                     "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
                                     "AND table_name <> 'spatial_ref_sys' AND NOT "
                                     + _PARTITION.format("") + " ORDER BY 1")]


@pytest.fixture
def new_database(pg_server):
    """Empty databases with PostGIS, as `gridgov db start` makes them: ``new_database()``."""
    made: list[str] = []

    def make(template: str | None = None) -> str:
        made.append(f"gridgov_test_restore_{os.getpid()}_{next(_names)}")
        return pg_server.create_database(made[-1], template=template)

    yield make
    for name in made:
        pg_server.drop_database(name)


def refused(result, expected: str, *, progress: bool = False) -> None:
    """Exit 2 and the refusal on one line: the only line, unless the command had begun
    (``progress``) and said so first."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert expected in lines[-1], result.output
    assert lines[-1].startswith("Error: ")
    assert len(lines) == 1 or progress, result.output
    assert "Traceback" not in result.output


def report_with_photos(url: str, token: str) -> tuple[int, list[tuple[str, bytes]]]:
    """A case reported through the API with two photos, distinct bytes each: its id and photos."""
    client = bearer(create_app({"DATABASE_URL": url}).test_client(), token)
    leaf = leaf_with_one_worker(url)
    photos = [("a.png", PNG + os.urandom(4096)), ("b.jpg", JPEG + os.urandom(4096))]
    form = {"case": json.dumps(case_body(location={"lon": leaf["lon"], "lat": leaf["lat"]}),
                               ensure_ascii=False),
            "photos": [(io.BytesIO(data), name) for name, data in photos]}
    created = client.post("/api/v1/cases", data=form, content_type="multipart/form-data")
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"], photos


def photos_served(url: str, token: str, case_id: int) -> list[tuple[str, bytes]]:
    client = bearer(create_app({"DATABASE_URL": url}).test_client(), token)
    detail = client.get(f"/api/v1/cases/{case_id}").get_json()
    return [(p["filename"], client.get(p["url"]).data) for p in detail["photos"]]


# -- the round trip ------------------------------------------------------------------------------


def test_a_round_trip_of_the_demo_gives_back_every_table_and_photo(
        cli, demo_copy_url, new_database, operator_token, tmp_path):
    case_id, photos = report_with_photos(demo_copy_url, operator_token)
    before = fingerprint(demo_copy_url)
    archive = tmp_path / "bagong.tar"

    result = cli(demo_copy_url, "backup", str(archive), "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["path"] == str(archive) and archive.is_file()
    assert oct(archive.stat().st_mode & 0o777) == "0o600"  # personal data
    assert manifest["revision"] == _rows(demo_copy_url, "SELECT version_num FROM alembic_version")[0][0]
    counted = {name: n for name, (n, _) in before["tables"].items() if name != "spatial_ref_sys"}
    assert manifest["tables"] == counted
    assert manifest["photos"]["case_photos"] == counted["case_photos"] >= 2
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["manifest.json", "db.dump"]

    target = new_database()
    result = cli(target, "restore", str(archive))
    assert result.exit_code == 0, result.output
    assert "every table has the rows the archive counted" in result.output

    after = fingerprint(target)
    assert after.keys() == before.keys()
    for part in before:
        assert after[part] == before[part], part
    assert photos_served(target, operator_token, case_id) == photos


def test_restore_replace_puts_a_changed_database_back_as_it_was(
        cli, demo_copy_url, operator_token, tmp_path):
    archive = tmp_path / "bagong.tar"
    assert cli(demo_copy_url, "backup", str(archive)).exit_code == 0
    before = fingerprint(demo_copy_url)
    # after the backup: a case more, a photo more, a table the archive does not have
    report_with_photos(demo_copy_url, operator_token)
    _exec(demo_copy_url, "CREATE TABLE scratch (id int PRIMARY KEY)")
    changed = fingerprint(demo_copy_url)

    tables = len(table_names(demo_copy_url))
    cases = _rows(demo_copy_url, "SELECT count(*) FROM cases")[0][0]
    refused(cli(demo_copy_url, "restore", str(archive)),
            f"is not empty ({tables} tables, {cases:,} cases): restore into an empty database, "
            "or give --replace")
    assert fingerprint(demo_copy_url) == changed  # refused: nothing written

    result = cli(demo_copy_url, "restore", str(archive), "--replace")
    assert result.exit_code == 0, result.output
    after = fingerprint(demo_copy_url)
    for part in before:
        assert after[part] == before[part], part
    assert "scratch" not in table_names(demo_copy_url)


# -- bad archives --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_archive(pg_server, template_db, tmp_path_factory) -> Path:
    """A good archive of a migrated database with a town's worth of nothing: to spoil."""
    name = f"gridgov_test_backup_src_{os.getpid()}"
    url = pg_server.create_database(name, template=template_db)
    path, _ = backup_database(url, tmp_path_factory.mktemp("archive") / "small.tar")
    pg_server.drop_database(name)
    return path


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _with_manifest(archive: Path, path: Path, **changes) -> Path:
    members = _members(archive)
    manifest = json.loads(members["manifest.json"])
    manifest.update(changes)
    return _tar(path, {**members, "manifest.json": json.dumps(manifest).encode()})


def _damaged_dump(archive: Path, path: Path) -> Path:
    members = _members(archive)
    dump = bytearray(members["db.dump"])
    dump[len(dump) // 2] ^= 0xFF  # one byte in the middle: pg_restore --list would not see it
    return _tar(path / "x.tar", {**members, "db.dump": bytes(dump)})


def _not_a_dump(archive: Path, path: Path) -> Path:
    # a manifest that describes its dump faithfully, of a dump that is no pg_dump archive
    import hashlib

    junk = b"PGDMP but not really" + bytes(1000)
    members = _members(archive)
    manifest = json.loads(members["manifest.json"])
    manifest["dump"] = {"name": "db.dump", "bytes": len(junk),
                        "sha256": hashlib.sha256(junk).hexdigest()}
    return _tar(path / "x.tar", {"manifest.json": json.dumps(manifest).encode(), "db.dump": junk})


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_ARCHIVES = {
    "missing": (lambda a, p: p / "nothing.tar", "nothing.tar: no such file"),
    "a_directory": (lambda a, p: p, "is not a file"),
    "empty_file": (lambda a, p: _file(p / "x.tar", b""), "is not a gridgov backup (not a tar file"),
    "not_a_tar": (lambda a, p: _file(p / "x.tar", b"hello\n" * 200),
                  "is not a gridgov backup (not a tar file"),
    "truncated": (lambda a, p: _file(p / "x.tar", a.read_bytes()[: a.stat().st_size // 2]),
                  "cannot be read to its end"),
    "no_manifest": (lambda a, p: _tar(p / "x.tar", {"db.dump": _members(a)["db.dump"]}),
                    "it has no manifest.json"),
    "no_dump": (lambda a, p: _tar(p / "x.tar", {"manifest.json": _members(a)["manifest.json"]}),
                "it has no db.dump"),
    "manifest_not_json": (lambda a, p: _tar(p / "x.tar", {**_members(a), "manifest.json": b"{"}),
                          "its manifest.json is not JSON"),
    "someone_elses_manifest": (lambda a, p: _with_manifest(a, p / "x.tar", format="other"),
                               "is not a gridgov-backup manifest"),
    "future_format": (lambda a, p: _with_manifest(a, p / "x.tar", format_version=2),
                      "has format version 2; this gridgov reads version 1"),
    "hostile_table_name": (lambda a, p: _with_manifest(a, p / "x.tar",
                                                       tables={"x'); DROP TABLE cases; --": 1}),
                           "has no valid table counts"),
    "damaged_dump": (_damaged_dump, "its db.dump is damaged (SHA-256"),
    "not_a_dump": (_not_a_dump, "pg_restore cannot read its dump"),
    "newer_schema": (lambda a, p: _with_manifest(a, p / "x.tar", revision="0099_future"),
                     "holds a schema at migration 0099_future, which this gridgov does not know"),
}


@pytest.mark.parametrize(("make", "expected"), BAD_ARCHIVES.values(), ids=BAD_ARCHIVES.keys())
def test_a_bad_archive_is_refused_with_one_line_and_writes_nothing(
        cli, new_database, small_archive, tmp_path, make, expected):
    target = new_database()
    refused(cli(target, "restore", str(make(small_archive, tmp_path))), expected)
    assert table_names(target) == []


def test_a_restore_failing_half_way_rolls_back_everything(cli, empty_db_url, new_database,
                                                         tmp_path):
    """The archive is sound, but its rows break a check whose function reads a table restored
    after it: pg_restore has made tables and loaded rows when the error comes. Nothing stays,
    in an empty database or in one being replaced."""
    _exec(empty_db_url, """
        CREATE TABLE public.z_allowed (id int PRIMARY KEY);
        CREATE FUNCTION public.is_allowed(x int) RETURNS boolean LANGUAGE sql STABLE
            AS 'SELECT EXISTS (SELECT 1 FROM public.z_allowed WHERE id = x)';
        CREATE TABLE public.a_checked (id int PRIMARY KEY CHECK (public.is_allowed(id)));
        INSERT INTO public.z_allowed VALUES (1), (2);
        INSERT INTO public.a_checked VALUES (1), (2)""")
    archive = tmp_path / "trap.tar"
    assert cli(empty_db_url, "backup", str(archive)).exit_code == 0

    empty = new_database()
    result = cli(empty, "restore", str(archive))
    refused(result, "the restore failed and was rolled back, the database is as it was: "
                    'ERROR: new row for relation "a_checked" violates check constraint',
            progress=True)
    assert table_names(empty) == []

    occupied = new_database(template="gridgov_test_template")
    before = fingerprint(occupied)
    refused(cli(occupied, "restore", str(archive), "--replace"), "rolled back", progress=True)
    assert fingerprint(occupied) == before


def test_a_manifest_counting_other_rows_than_the_dump_rolls_the_restore_back(
        cli, new_database, small_archive, tmp_path):
    members = _members(small_archive)
    manifest = json.loads(members["manifest.json"])
    manifest["tables"]["categories"] += 1
    archive = _tar(tmp_path / "x.tar", {**members,
                                        "manifest.json": json.dumps(manifest).encode()})
    target = new_database()
    refused(cli(target, "restore", str(archive)), progress=True, expected=
            f"table categories has {manifest['tables']['categories'] - 1} rows after the "
            f"restore where the archive counted {manifest['tables']['categories']}")
    assert table_names(target) == []


def test_restore_refuses_a_database_without_postgis(cli, new_database, small_archive):
    target = new_database(template="template0")  # as CREATE DATABASE makes it: no PostGIS
    refused(cli(target, "restore", str(small_archive)),
            "has no PostGIS, and only a superuser may create it")
    assert table_names(target) == []


# -- backups refused -----------------------------------------------------------------------------


def test_backup_never_overwrites_a_file(cli, empty_db_url, tmp_path):
    existing = tmp_path / "there.tar"
    existing.write_text("keep me")
    refused(cli(empty_db_url, "backup", str(existing)), "exists already; a backup never "
                                                        "overwrites a file")
    assert existing.read_text() == "keep me"


def test_backup_to_a_directory_names_the_archive_and_leaves_nothing_else(cli, empty_db_url,
                                                                         tmp_path):
    result = cli(empty_db_url, "backup", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    written = Path(json.loads(result.stdout)["path"])
    assert written.parent == tmp_path and written.name.startswith("gridgov-gridgov_test_")
    assert [p.name for p in tmp_path.iterdir()] == [written.name]  # no temporary left over


def test_backup_refuses_a_directory_that_does_not_exist(cli, empty_db_url, tmp_path):
    refused(cli(empty_db_url, "backup", str(tmp_path / "no" / "such.tar")),
            "is not a directory: the backup cannot be written there")
