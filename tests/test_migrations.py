"""Alembic migrations on a real PostGIS, and the refusal to serve an out-of-date schema."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from db import migrate
from demo.load import conninfo


def test_upgrade_creates_every_table_with_gist_indexes_and_seeds_categories(pg_server):
    url = pg_server.create_database("gridgov_test_migrations")
    try:
        migrate.upgrade(url)
        engine = create_engine(url, poolclass=NullPool)
        assert migrate.schema_state(engine)["up_to_date"]
        tables = set(inspect(engine).get_table_names())
        assert {"towns", "zones", "grids", "people", "grid_assignments", "addresses", "households",
                "enterprises", "hazards", "streets", "categories", "cases", "shops", "key_persons",
                "key_places", "visits", "visit_photos"} <= tables
        with psycopg.connect(conninfo(url)) as conn:
            gist = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%%USING gist%%'")}
            srids = dict(conn.execute("SELECT f_table_name || '.' || f_geometry_column, srid FROM geometry_columns"))
            n_categories = conn.execute("SELECT count(*) FROM categories").fetchone()[0]
        assert {"ix_grids_geom", "ix_zones_geom", "ix_towns_geom", "ix_cases_open_geom", "ix_addresses_geom"} <= gist
        assert set(srids.values()) == {4326}
        assert n_categories > 30

        migrate.upgrade(url)  # idempotent at head
        from alembic import command

        command.downgrade(migrate.alembic_config(url), "base")
        assert migrate.schema_state(engine)["current"] is None
        migrate.upgrade(url)
        assert migrate.schema_state(engine)["up_to_date"]
        engine.dispose()
    finally:
        pg_server.drop_database("gridgov_test_migrations")


def test_serve_refuses_an_out_of_date_schema_and_names_the_command(pg_server):
    url = pg_server.create_database("gridgov_test_unmigrated")
    try:
        env = dict(os.environ, GRIDGOV_DATABASE_URL=url)
        out = subprocess.run(
            [sys.executable, "-m", "web.cli", "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 1
        assert "gridgov db upgrade" in out.stderr
        assert "Traceback" not in out.stderr
    finally:
        pg_server.drop_database("gridgov_test_unmigrated")


def test_every_index_the_models_declare_is_what_the_migrations_built(empty_db_url):
    # the models are the readable schema; the migrations build it: they must agree on every
    # index, partial predicates and access methods included. PostgreSQL spells both: each
    # declared index is built again under another name, in a transaction rolled back.
    import accounts.models  # noqa: F401  (every model registers its table)
    import boundaries.models  # noqa: F401
    import cases.models  # noqa: F401
    import field.models  # noqa: F401
    import planning.models  # noqa: F401
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex

    from db.base import Base

    declared = {ix.name: ix for table in Base.metadata.tables.values() for ix in table.indexes}
    assert {"ix_cases_open_geom", "ix_cases_open_assignee", "ix_cases_closed_at"} <= set(declared)
    with psycopg.connect(conninfo(empty_db_url)) as conn:
        built = dict(conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
        for name, ix in sorted(declared.items()):
            assert name in built, f"{name} is declared in the models but no migration built it"
            ddl = str(CreateIndex(ix).compile(dialect=postgresql.dialect()))
            conn.execute(ddl.replace(f"INDEX {name} ", f"INDEX check_{name} ", 1))
            again = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                                 (f"check_{name}",)).fetchone()[0]
            assert again.replace(f"check_{name}", name) == built[name]
        conn.rollback()


def test_the_head_is_read_again_when_a_migration_is_added(tmp_path, monkeypatch):
    """head_revision is cached (/healthz asks on every call), but not past a change on disk."""
    import shutil

    copy = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", copy)
    head = migrate.head_revision()
    assert migrate.head_revision() == head
    (copy / "versions" / "9999_later.py").write_text(
        f'revision = "9999"\ndown_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n", encoding="utf-8")
    assert migrate.head_revision() == "9999"
